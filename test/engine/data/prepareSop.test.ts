// `prepare-sop`: pairing, determinism, and every way the lists can be wrong.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_PREPARE_SEED,
  formatPrepareSummary,
  pairSopImages,
  prepareSop,
} from '../../../src/engine/data/prepareSop';
import { parseSopList } from '../../../src/engine/data/sopList';
import { DataError } from '../../../src/engine/data/problems';
import { Rng } from '../../../src/engine/util/rng';
import { HEADER, TEST, TRAIN, listText, makeSopTree, type ListedImage } from './sopTree';

const dirs: string[] = [];
async function tree(options?: Parameters<typeof makeSopTree>[0]) {
  const d = await makeSopTree(options);
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
const records = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { query_image: string; positive: string; label: number });

// The exact output for seed 42 on the tree in sopTree.ts. If the pairing
// rule or the RNG changes, every prepared data set changes: update this
// only on purpose. (super_label, the super class, was added for group_by_super_label.)
const GOLDEN_TRAIN_42 =
  [
    '{"query_image":"bicycle_final/1_0.png","positive":"bicycle_final/1_2.png","label":1,"super_label":1}',
    '{"query_image":"bicycle_final/1_1.png","positive":"bicycle_final/1_0.png","label":1,"super_label":1}',
    '{"query_image":"bicycle_final/1_2.png","positive":"bicycle_final/1_0.png","label":1,"super_label":1}',
    '{"query_image":"bicycle_final/2_0.png","positive":"bicycle_final/2_0.png","label":2,"super_label":1}',
    '{"query_image":"chair_final/3_0.png","positive":"chair_final/3_1.png","label":3,"super_label":2}',
    '{"query_image":"chair_final/3_1.png","positive":"chair_final/3_0.png","label":3,"super_label":2}',
  ].join('\n') + '\n';

test('writes the exact train.jsonl for seed 42 (the default)', async () => {
  assert.equal(DEFAULT_PREPARE_SEED, 42);
  const dir = await tree();
  const r = prepareSop({ sopRoot: dir });
  assert.equal(r.seed, 42);
  assert.equal(read(dir, 'train.jsonl'), GOLDEN_TRAIN_42);
});

test('pairs: same product, another image unless the product has one; label = class id; list order', async () => {
  const dir = await tree();
  prepareSop({ sopRoot: dir, seed: 7 });
  for (const [file, list] of [
    ['train.jsonl', TRAIN],
    ['val.jsonl', TEST],
  ] as const) {
    const recs = records(read(dir, file));
    assert.deepEqual(
      recs.map((r) => r.query_image),
      list.map((i) => i.path),
      `${file}: one record per image, in list order`,
    );
    for (const r of recs) {
      const q = list.find((i) => i.path === r.query_image)!;
      const p = list.find((i) => i.path === r.positive)!;
      assert.equal(r.label, q.cls);
      assert.equal(p.cls, q.cls, 'positive of the same product');
      const productSize = list.filter((i) => i.cls === q.cls).length;
      if (productSize > 1) assert.notEqual(r.positive, r.query_image);
      else assert.equal(r.positive, r.query_image, 'single image pairs with itself');
    }
  }
});

test('the same seed gives the same files; other seeds give other pairings', async () => {
  const dir = await tree();
  prepareSop({ sopRoot: dir, seed: 5 });
  const a = read(dir, 'train.jsonl') + read(dir, 'val.jsonl');
  prepareSop({ sopRoot: dir, seed: 5 });
  assert.equal(read(dir, 'train.jsonl') + read(dir, 'val.jsonl'), a);
  // With products of 3 images, some seed among a few must pick differently.
  const others = new Set<string>();
  for (let s = 0; s < 8; s++) {
    prepareSop({ sopRoot: dir, seed: s });
    others.add(read(dir, 'train.jsonl') + read(dir, 'val.jsonl'));
  }
  assert.ok(others.size > 1);
});

test('the positive is uniform over the other images of the product', () => {
  const images = parseSopList(
    listText([1, 2, 3, 4].map((n) => ({ id: n, cls: 9, sup: 1, path: `a/${n}.jpg` }))),
    'x.txt',
  );
  const counts = new Map<string, number>();
  const rng = new Rng(1);
  for (let i = 0; i < 3000; i++) {
    const pos = pairSopImages(images, rng)[0]!.positive;
    counts.set(pos, (counts.get(pos) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), ['a/2.jpg', 'a/3.jpg', 'a/4.jpg']);
  // Each ~1000 of 3000 (sd ~26): 850..1150 is a 6-sigma band.
  for (const [k, n] of counts) assert.ok(n > 850 && n < 1150, `${k}: ${n}`);
});

test('CRLF line ends, a BOM and trailing blank lines are fine', async () => {
  const dir = await tree({ eol: '\r\n' });
  fs.writeFileSync(path.join(dir, 'Ebay_train.txt'), '\ufeff' + listText(TRAIN, '\r\n') + '\r\n\r\n  \r\n');
  prepareSop({ sopRoot: dir });
  assert.equal(read(dir, 'train.jsonl'), GOLDEN_TRAIN_42);
});

test('a malformed line is reported with file and line number (all of them)', async () => {
  const dir = await tree();
  const file = path.join(dir, 'Ebay_train.txt');
  const lines = listText(TRAIN).split('\n');
  lines[2] = '2 1 bicycle_final/1_1.png'; // 3 fields
  lines[4] = '4 x 1 bicycle_final/2_0.png'; // class id not a number
  fs.writeFileSync(file, lines.join('\n'));
  assert.throws(
    () => prepareSop({ sopRoot: dir }),
    (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.problems.length, 2);
      assert.deepEqual(
        e.problems.map((p) => [p.file, p.line]),
        [
          [file, 3],
          [file, 5],
        ],
      );
      assert.match(
        e.message,
        new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: expected 4 space-separated fields`),
      );
      assert.match(e.message, /:5: class_id must be a non-negative integer, found `x`/);
      assert.equal(e.file, file);
      assert.equal(e.line, undefined, 'two lines: the event points at the file only');
      return true;
    },
  );
  assert.ok(!fs.existsSync(path.join(dir, 'train.jsonl')), 'nothing written');
  assert.ok(!fs.existsSync(path.join(dir, 'val.jsonl')), 'nothing written, not even the good split');
});

test('a wrong header, a duplicate image id and a class in two super classes are reported', async () => {
  const dir = await tree();
  const file = path.join(dir, 'Ebay_test.txt');
  const lines = listText(TEST).split('\n');
  lines[0] = 'id class super path';
  lines[2] = '7 4 1 bicycle_final/4_1.png'; // id 7 again
  lines[3] = '9 5 1 chair_final/5_0.png'; // class 5 in super class 1 here, 2 later
  fs.writeFileSync(file, lines.join('\n'));
  assert.throws(
    () => prepareSop({ sopRoot: dir }),
    (e: unknown) => {
      assert.ok(e instanceof DataError);
      // Lines 5 and 6 both put class 5 in super class 2, against line 4.
      assert.deepEqual(
        e.problems.map((p) => p.line),
        [1, 3, 5, 6],
      );
      assert.match(e.message, /:1: expected the header `image_id class_id super_class_id path`/);
      assert.match(e.message, /:3: image_id 7 already used on line 2/);
      assert.match(e.message, /:5: class_id 5 has super_class_id 2 here but 1 on line 4/);
      return true;
    },
  );
});

test('missing images: all counted, a few named, nothing written; --skip_missing leaves them out', async () => {
  // 40 train images of 20 products, 25 of them missing.
  const train: ListedImage[] = Array.from({ length: 40 }, (_, i) => ({
    id: i + 1,
    cls: 100 + Math.floor(i / 2),
    sup: 1,
    path: `lamp_final/${i}.png`,
  }));
  const missing = train.slice(0, 25).map((i) => i.path);
  const dir = await tree({ train, skip: missing });
  assert.throws(
    () => prepareSop({ sopRoot: dir }),
    (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.problems.length, 25);
      assert.match(e.message, /^25 listed image\(s\) are missing under /);
      assert.match(e.message, /Ebay_train\.txt:2: lamp_final\/0\.png not found/);
      assert.match(e.message, /\.\.\. and 20 more/);
      assert.ok(e.message.split('\n').length < 12, 'a summary, not one line per image');
      assert.match(e.hint ?? '', /--skip_missing/);
      return true;
    },
  );
  assert.ok(!fs.existsSync(path.join(dir, 'train.jsonl')));

  const r = prepareSop({ sopRoot: dir, skipMissing: true });
  assert.equal(r.train.missingSkipped, 25);
  assert.equal(r.train.images, 15);
  // Products 100..111 lost both images; 112 lost one (now single); 113..119 keep two.
  assert.equal(r.train.products, 8);
  assert.equal(r.train.singleImageProducts, 1);
  const recs = records(read(dir, 'train.jsonl'));
  assert.equal(recs.length, 15);
  assert.ok(recs.every((x) => !missing.includes(x.query_image) && !missing.includes(x.positive)));
  assert.match(formatPrepareSummary(r), /25 missing image\(s\) left out/);
});

test('summary: images, products and super classes per split, and the test-split warning', async () => {
  const dir = await tree();
  const r = prepareSop({ sopRoot: dir });
  assert.deepEqual([r.train.images, r.train.products, r.train.superClasses, r.train.singleImageProducts], [6, 3, 2, 1]);
  assert.deepEqual([r.val.images, r.val.products, r.val.superClasses], [5, 2, 2]);
  const text = formatPrepareSummary(r);
  assert.match(text, /train Ebay_train\.txt\s+-> train\.jsonl\s+6 images\s+3 products\s+2 super classes/);
  assert.match(text, /val\.jsonl is made from SOP's TEST split/);
});

test('a folder without the lists is refused with a hint', async () => {
  const dir = await tree();
  fs.rmSync(path.join(dir, 'Ebay_test.txt'));
  assert.throws(
    () => prepareSop({ sopRoot: dir }),
    (e: unknown) =>
      e instanceof DataError && /Ebay_test\.txt not found/.test(e.message) && /--sop_root/.test(e.hint ?? ''),
  );
  assert.throws(() => prepareSop({ sopRoot: path.join(dir, 'nope') }), /is not a folder/);
});

test('an empty list or one with only a header is an error', () => {
  assert.throws(() => parseSopList('\n\n', 'e.txt'), /e\.txt is empty/);
  assert.throws(() => parseSopList(HEADER + '\n', 'h.txt'), /h\.txt lists no images/);
});

test('vembed prepare-sop: runs, prints the summary, exits 0; bad input exits 1 naming file:line', async () => {
  const dir = await tree();
  const bin = path.resolve(__dirname, '../../../src/engine/cli/bin.ts');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', bin, 'prepare-sop', ...args], { encoding: 'utf8', timeout: 60000 });
  const ok = run('--sop_root', dir, '--seed', '42');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /Prepared SOP pairs \(seed 42\)/);
  assert.match(ok.stdout, /TEST split/);
  // The data-health check follows, on the lists: product 2 has a single training image.
  assert.match(ok.stdout, /Data health: 6 train images of 3 products/);
  assert.match(ok.stdout, /products with a single image \(train 1, .*\n\s+train product 2: bicycle_final\/2_0\.png/);
  assert.ok(fs.existsSync(path.join(dir, 'data-health.json')));
  assert.equal(read(dir, 'train.jsonl'), GOLDEN_TRAIN_42);

  const json = run('--sop-root', dir, '--json');
  assert.equal(json.status, 0, json.stderr);
  const events = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(events.at(-1).outputs, {
    train: path.join(dir, 'train.jsonl'),
    val: path.join(dir, 'val.jsonl'),
    data_health: path.join(dir, 'data-health.json'),
  });

  fs.appendFileSync(path.join(dir, 'Ebay_train.txt'), 'garbage line\n');
  const bad = run('--sop_root', dir);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /Ebay_train\.txt:8: .*error: .*malformed/s);
});
