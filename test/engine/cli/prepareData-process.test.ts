// `vembed prepare-data` as the extension runs it: a separate process, --json events, real files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseEventLine, type EngineEvent } from '../../../src/shared/protocol';
import { writeTinyImage } from '../data/sopTree';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function vembedJson(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args, '--json'], { encoding: 'utf8', timeout: 60000 });
  const events = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const p = parseEventLine(l);
      assert.equal(p.kind, 'event', `not an event line: ${l}`);
      return (p as { event: EngineEvent }).event;
    });
  return { code: r.status, events, stderr: r.stderr };
}

before(() => {
  assert.ok(fs.existsSync(path.join(root, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
});

test('prepare-data --layout folders: files written, progress and finished events with the outputs', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-prepdata-cli-'));
  dirs.push(dir);
  const rels = [
    'chairs/c1/a.png',
    'chairs/c1/b.png',
    'chairs/c2/a.png',
    'chairs/c2/b.png',
    'lamps/l1/a.png',
    'lamps/l1/b.png',
  ];
  let n = 0;
  for (const r of rels) await writeTinyImage(path.join(dir, 'data', r), ++n);
  const out = path.join(dir, 'out');
  const r = vembedJson([
    'prepare-data',
    '--layout',
    'folders',
    '--root',
    path.join(dir, 'data'),
    '--out',
    out,
    '--val_products',
    '1',
    '--seed',
    '5',
  ]);
  assert.equal(r.code, 0, r.stderr + JSON.stringify(r.events));
  const finished = r.events.find((e) => e.type === 'finished');
  assert.ok(finished && finished.type === 'finished' && finished.status === 'completed');
  assert.deepEqual(finished.outputs, {
    train: path.join(out, 'train.jsonl'),
    val: path.join(out, 'val.jsonl'),
    data_health: path.join(out, 'data-health.json'),
  });
  assert.ok(r.events.some((e) => e.type === 'progress' && e.task === 'hashing images'));
  const lines = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').length;
  assert.equal(lines(path.join(out, 'train.jsonl')) + lines(path.join(out, 'val.jsonl')), 6);
  assert.equal(lines(path.join(out, 'val.jsonl')), 2);
  const health = JSON.parse(fs.readFileSync(path.join(out, 'data-health.json'), 'utf8')) as {
    products: { train: number; test: number };
  };
  assert.deepEqual(health.products, { train: 2, test: 1 });
});

test('prepare-data --layout csv with planted errors: exit 1, one warning event per problem with file and line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-prepdata-cli-'));
  dirs.push(dir);
  for (const [i, r] of ['a b.png', 'c,d.png', 'e.png'].entries()) await writeTinyImage(path.join(dir, r), i);
  const csv = path.join(dir, 'list.csv');
  fs.writeFileSync(csv, 'path,product_id\r\n"a b.png",1\r\n"c,d.png",1\r\nnope.png,2\r\ne.png,2\r\n"a b.png",2\r\n');
  const r = vembedJson(['prepare-data', '--layout', 'csv', '--csv', csv]);
  assert.equal(r.code, 1);
  const problems = r.events.filter((e) => e.type === 'warning' && e.code?.startsWith('data-error:'));
  assert.deepEqual(
    problems.map((e) => e.type === 'warning' && [e.code, e.file, e.line]),
    [
      ['data-error:missing-image', csv, 4],
      ['data-error:inconsistent', csv, 6],
    ],
  );
  const error = r.events.find((e) => e.type === 'error');
  assert.ok(error && error.type === 'error' && error.code === 'bad-data' && /2 problem\(s\)/.test(error.message));
  assert.ok(!fs.existsSync(path.join(dir, 'train.jsonl')));

  // With the conflicting row gone and --skip_missing: prepared, the missing line a warning.
  fs.writeFileSync(csv, 'path,product_id\r\n"a b.png",1\r\n"c,d.png",1\r\nnope.png,2\r\ne.png,2\r\n');
  const ok = vembedJson(['prepare-data', '--layout', 'csv', '--csv', csv, '--skip_missing', '--val_ratio', '0.5']);
  assert.equal(ok.code, 0, JSON.stringify(ok.events));
  const warned = ok.events.filter((e) => e.type === 'warning' && e.code === 'data-warning:missing-image');
  assert.deepEqual(
    warned.map((e) => e.type === 'warning' && e.line),
    [4],
  );
  assert.ok(fs.existsSync(path.join(dir, 'train.jsonl')));
});

test('prepare-data: usage errors exit 2 and name the flag', () => {
  const r = vembedJson(['prepare-data', '--layout', 'folders']);
  assert.equal(r.code, 2);
  assert.match(JSON.stringify(r.events), /--layout folders needs --root DIR/);
  const both = vembedJson([
    'prepare-data',
    '--layout',
    'csv',
    '--csv',
    'x.csv',
    '--val_ratio',
    '0.3',
    '--val_products',
    '2',
  ]);
  assert.equal(both.code, 2);
  assert.match(JSON.stringify(both.events), /not both/);
});
