// Loading pairs from JSONL / CSV / TSV: columns, paths, validation, skipping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  denseLabelIds,
  loadPairDataset,
  parsePairFile,
  type DatasetOptions,
} from '../../../src/engine/data/pairDataset';
import { parseDelimited } from '../../../src/engine/data/delimited';
import { DataError } from '../../../src/engine/data/problems';
import { defaultConfig } from '../../../src/shared/config/schema';
import { writeTinyImage } from './sopTree';

let dir: string;
const OPTS: DatasetOptions = (({
  image_root,
  allow_absolute_paths,
  column_mapping,
  validate_data,
  skip_invalid_records,
}) => ({ image_root, allow_absolute_paths, column_mapping, validate_data, skip_invalid_records }))(defaultConfig());

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-pairs-'));
  for (let i = 0; i < 6; i++) await writeTinyImage(path.join(dir, 'img', `${i}.png`), i);
  fs.writeFileSync(path.join(dir, 'img', 'corrupt.png'), 'not a png');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}
const img = (i: number) => path.join(dir, 'img', `${i}.png`);

test("JSONL: standard columns, paths relative to the file's folder, negatives, labels", async () => {
  const f = write(
    'a.jsonl',
    [
      '{"query_image": "img/0.png", "positive": "img/1.png", "label": 1001}',
      '',
      '{"query_image": "img/2.png", "positive": "img/3.png", "label": "sku-7", "negatives": ["img/4.png", "img/5.png"]}',
      '{"query_image": "img/4.png", "positive": "img/5.png", "extra": true}',
    ].join('\r\n') + '\r\n\r\n',
  );
  const r = await loadPairDataset(f, OPTS);
  assert.equal(r.format, 'jsonl');
  assert.equal(r.imageRoot, dir);
  assert.equal(r.skipped, 0);
  assert.equal(r.imagesChecked, true);
  assert.equal(r.uniqueImages, 6);
  assert.deepEqual(r.records, [
    { query: img(0), positive: img(1), negatives: [], label: 1001, superLabel: null, file: f, line: 1 },
    {
      query: img(2),
      positive: img(3),
      negatives: [img(4), img(5)],
      label: 'sku-7',
      superLabel: null,
      file: f,
      line: 3,
    },
    { query: img(4), positive: img(5), negatives: [], label: null, superLabel: null, file: f, line: 4 },
  ]);
});

test('CSV with a header, quoted fields and `|`-separated negatives; integer labels become numbers', async () => {
  const f = write(
    'b.csv',
    [
      'query_image,positive,label,negatives',
      'img/0.png,img/1.png,1001,img/2.png|img/3.png',
      '"img/2.png","img/3.png","a, quoted ""label""",',
      'img/4.png,img/5.png,,["img/0.png"]',
    ].join('\n'),
  );
  const r = await loadPairDataset(f, OPTS);
  assert.equal(r.format, 'csv');
  assert.deepEqual(
    r.records.map((x) => [x.line, x.label, x.negatives]),
    [
      [2, 1001, [img(2), img(3)]],
      [3, 'a, quoted "label"', []],
      [4, null, [img(0)]],
    ],
  );
});

test('TSV, with CRLF line ends', async () => {
  const f = write('c.tsv', 'query_image\tpositive\tlabel\r\nimg/0.png\timg/1.png\t5\r\nimg/2.png\timg/3.png\t6\r\n');
  const r = await loadPairDataset(f, OPTS);
  assert.equal(r.format, 'tsv');
  assert.deepEqual(
    r.records.map((x) => [x.query, x.positive, x.label, x.line]),
    [
      [img(0), img(1), 5, 2],
      [img(2), img(3), 6, 3],
    ],
  );
});

test('column_mapping renames the standard columns ({standard: yours}), in JSONL and CSV', async () => {
  const mapping = { query_image: 'img', positive: 'pos', label: 'sku', negatives: 'hard' };
  const j = write('m.jsonl', '{"img": "img/0.png", "pos": "img/1.png", "sku": 3, "hard": ["img/2.png"]}\n');
  const c = write('m.csv', 'sku,pos,img\n3,img/1.png,img/0.png\n');
  for (const f of [j, c]) {
    const r = await loadPairDataset(f, { ...OPTS, column_mapping: mapping });
    assert.equal(r.records[0]!.query, img(0));
    assert.equal(r.records[0]!.positive, img(1));
    assert.equal(r.records[0]!.label, 3);
  }
  // Without the mapping, the records lack the standard columns: reported with the hint.
  await assert.rejects(
    loadPairDataset(j, OPTS),
    (e: unknown) =>
      e instanceof DataError && /m\.jsonl:1: no `query_image`/.test(e.message) && /column_mapping/.test(e.hint ?? ''),
  );
  await assert.rejects(
    loadPairDataset(c, OPTS),
    (e: unknown) =>
      e instanceof DataError &&
      /m\.csv:1: the header has no column `query_image` \(columns: sku, pos, img\)/.test(e.message),
  );
  await assert.rejects(
    loadPairDataset(c, { ...OPTS, column_mapping: { query_image: 'picture' } }),
    /no column `picture` \(column_mapping\.query_image\)/,
  );
});

test('image_root: paths are relative to it when set', async () => {
  const sub = path.join(dir, 'lists');
  fs.mkdirSync(sub, { recursive: true });
  const f = path.join(sub, 'r.jsonl');
  fs.writeFileSync(f, '{"query_image": "0.png", "positive": "1.png"}\n');
  const r = await loadPairDataset(f, { ...OPTS, image_root: path.join(dir, 'img') });
  assert.equal(r.records[0]!.query, img(0));
});

test('paths that leave image_root or are absolute are refused with file and line, unless allowed', async () => {
  const f = write(
    'esc.jsonl',
    [
      '{"query_image": "img/0.png", "positive": "img/1.png"}',
      '{"query_image": "../outside.png", "positive": "img/1.png"}',
      `{"query_image": ${JSON.stringify(img(2))}, "positive": "img/1.png"}`,
      '{"query_image": "img/../../x.png", "positive": "img/1.png", "negatives": ["/etc/passwd"]}',
      '{"query_image": "img/../img/3.png", "positive": "img\\\\4.png"}',
    ].join('\n'),
  );
  const parsed = parsePairFile(f, OPTS);
  assert.deepEqual(
    parsed.problems.map((p) => [p.kind, p.line]),
    [
      ['path-escapes', 2],
      ['path-escapes', 3],
      ['path-escapes', 4],
      ['path-escapes', 4],
    ],
  );
  assert.match(parsed.problems[0]!.message, /`\.\.\/outside\.png` leaves the image root/);
  assert.match(parsed.problems[1]!.message, /absolute path .* refused.*allow_absolute_paths/);
  assert.deepEqual(
    parsed.records.map((r) => [r.line, r.query, r.positive]),
    [
      [1, img(0), img(1)],
      [5, img(3), img(4)],
    ],
    'inside the root is fine; backslashes are separators',
  );
  const allowed = parsePairFile(f, { ...OPTS, allow_absolute_paths: true });
  assert.equal(allowed.problems.length, 0);
  assert.equal(allowed.records[1]!.query, path.resolve(dir, '../outside.png'));
});

test('validate_data: every missing or unreadable image, by file and line, all counted', async () => {
  const lines = ['{"query_image": "img/0.png", "positive": "img/1.png"}'];
  for (let i = 0; i < 30; i++) lines.push(`{"query_image": "img/missing${i}.png", "positive": "img/1.png"}`);
  lines.push('{"query_image": "img/2.png", "positive": "img/corrupt.png"}');
  lines.push('not json');
  const f = write('v.jsonl', lines.join('\n'));
  await assert.rejects(loadPairDataset(f, OPTS), (e: unknown) => {
    assert.ok(e instanceof DataError);
    assert.equal(e.problems.length, 32);
    assert.match(e.message, /32 bad record\(s\)/);
    assert.match(e.message, /30 × image not found, 1 × image not readable, 1 × malformed line/);
    assert.match(e.message, /v\.jsonl:2: img\/missing0\.png: file not found/);
    assert.match(e.message, /v\.jsonl:32: img\/corrupt\.png: .*unsupported image format/);
    assert.match(e.message, /v\.jsonl:33: not valid JSON/);
    assert.match(e.message, /\.\.\. and \d+ more/);
    assert.ok(e.message.split('\n').length <= 14, 'summarised');
    return true;
  });
  // Without image checks only the malformed line is a problem.
  const noCheck = await loadPairDataset(f, { ...OPTS, validate_data: false, skip_invalid_records: true });
  assert.equal(noCheck.imagesChecked, false);
  assert.equal(noCheck.records.length, 32);
  assert.equal(noCheck.skipped, 1);
});

test('skip_invalid_records: bad records are left out and counted', async () => {
  const f = write(
    's.csv',
    [
      'query_image,positive,label',
      'img/0.png,img/1.png,1',
      'img/missing.png,img/1.png,2',
      'img/2.png,,3',
      'img/3.png,img/4.png',
      '../x.png,img/4.png,5',
      'img/4.png,img/5.png,6',
    ].join('\n'),
  );
  const r = await loadPairDataset(f, { ...OPTS, skip_invalid_records: true });
  assert.deepEqual(
    r.records.map((x) => x.line),
    [2, 7],
  );
  assert.equal(r.skipped, 4);
  assert.deepEqual(
    r.problems.map((p) => [p.line, p.kind]),
    [
      [3, 'missing-image'],
      [4, 'missing-column'],
      [5, 'malformed'],
      [6, 'path-escapes'],
    ],
  );
  assert.match(r.problems[2]!.message, /expected 3 fields like the header, found 2/);
});

test('wrong value types are malformed records', () => {
  const f = write(
    't.jsonl',
    [
      '{"query_image": 5, "positive": "img/1.png"}',
      '{"query_image": "img/0.png", "positive": "img/1.png", "label": [1]}',
      '{"query_image": "img/0.png", "positive": "img/1.png", "negatives": "img/2.png"}',
      '[1, 2]',
    ].join('\n'),
  );
  const r = parsePairFile(f, OPTS);
  assert.deepEqual(
    r.problems.map((p) => p.line),
    [1, 2, 3, 4],
  );
  assert.match(r.problems[0]!.message, /`query_image` must be a path \(a string\), found 5/);
  assert.match(r.problems[1]!.message, /`label` must be an integer product id \(e.g. 1001\) or a text id/);
  assert.match(r.problems[2]!.message, /`negatives` must be a list of paths/);
  assert.match(r.problems[3]!.message, /expected a JSON object/);
});

test('a file with no usable record, an unknown type or a missing file is an error', async () => {
  await assert.rejects(loadPairDataset(write('e.jsonl', '\n\n'), OPTS), /no usable records/);
  await assert.rejects(loadPairDataset(write('x.txt', 'a'), OPTS), /unknown data file type `\.txt`/);
  await assert.rejects(loadPairDataset(path.join(dir, 'nope.jsonl'), OPTS), /data file .*nope\.jsonl: not found/);
});

test('an unterminated quote in a CSV is reported at the row it starts on', () => {
  const p = parseDelimited('a,b\n1,2\n"3,4\n5,6\n', ',');
  assert.deepEqual(p.errors, [{ line: 3, message: 'a quoted field is never closed (unbalanced `"`)' }]);
  assert.deepEqual(p.rows, [{ line: 2, fields: ['1', '2'] }]);
  const multi = parseDelimited('a,b\n"line one\nline two",x\ny,z\n', ',');
  assert.deepEqual(multi.rows, [
    { line: 2, fields: ['line one\nline two', 'x'] },
    { line: 4, fields: ['y', 'z'] },
  ]);
});

test('denseLabelIds: one id per label; unlabelled records get their own', () => {
  const ids = denseLabelIds([
    { label: 7 },
    { label: 'a' },
    { label: 7 },
    { label: null },
    { label: null },
    { label: '7' },
    { label: 'a' },
  ]);
  assert.deepEqual([...ids], [0, 1, 0, 2, 3, 4, 1]);
});

test('labels: integer ids or text ids; 1.5, null, true, "" and "2.5" are refused; "1001" is the integer 1001', () => {
  const rec = (label: string) => `{"query_image": "img/0.png", "positive": "img/1.png", "label": ${label}}`;
  const f = write(
    'labels.jsonl',
    [
      rec('1001'),
      rec('"1001"'),
      rec('"sku-7"'),
      rec('1.5'),
      rec('null'),
      rec('true'),
      rec('""'),
      rec('"2.5"'),
      '{"query_image": "img/0.png", "positive": "img/1.png"}',
    ].join('\n'),
  );
  const r = parsePairFile(f, OPTS);
  assert.deepEqual(
    r.records.map((x) => [x.line, x.label]),
    [
      [1, 1001],
      [2, 1001],
      [3, 'sku-7'],
      [9, null],
    ],
  );
  assert.deepEqual(
    r.problems.map((p) => p.line),
    [4, 5, 6, 7, 8],
  );
  assert.match(r.problems[0]!.message, /`label` must be an integer product id or a text id, found 1\.5/);
  assert.match(r.problems[1]!.message, /`label` is null; leave the key out for a record without a label/);
  assert.match(r.problems[2]!.message, /found true/);
  assert.match(r.problems[3]!.message, /`label` is empty/);
  assert.match(r.problems[4]!.message, /found "2\.5"/);
});
