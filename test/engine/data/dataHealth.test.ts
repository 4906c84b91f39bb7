// Data health without a model: single-image products, duplicates by path and by bytes, leakage across splits.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkDataHealth, formatDataHealth, hasLeakage } from '../../../src/engine/data/dataHealth';
import { healthImagesFromPairs, healthImagesFromSop } from '../../../src/engine/data/healthSources';
import { parsePairFile } from '../../../src/engine/data/pairDataset';

const SAMPLE = path.resolve(__dirname, '../../../data/sample-sop');
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A copy of the sample set whose lists can be edited. */
function sampleCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-health-'));
  dirs.push(dir);
  fs.cpSync(SAMPLE, dir, { recursive: true });
  return dir;
}

const appendTest = (dir: string, lines: string[]) =>
  fs.appendFileSync(path.join(dir, 'Ebay_test.txt'), lines.join('\n') + '\n');

test('the sample set is clean: no single-image product, no duplicate, no leakage', async () => {
  const r = await checkDataHealth(healthImagesFromSop(SAMPLE));
  assert.deepEqual(r.images, { train: 720, test: 720 });
  assert.deepEqual(r.products, { train: 144, test: 144 });
  assert.deepEqual(
    [r.singleImageProducts, r.samePath, r.sameContent, r.productsInBothSplits, r.unreadable],
    [[], [], [], [], []],
  );
  assert.equal(hasLeakage(r), false);
  assert.match(formatDataHealth(r), /No train\/test leakage found\. Nothing was changed\./);
});

test('the same files through the prepared pair files (val as the test split) give the same counts', async () => {
  const sets = (['train', 'val'] as const).map((s) => ({
    split: s === 'train' ? ('train' as const) : ('test' as const),
    ...parsePairFile(path.join(SAMPLE, `${s}.jsonl`), {
      image_root: SAMPLE,
      allow_absolute_paths: false,
      column_mapping: null,
    }),
  }));
  const r = await checkDataHealth(healthImagesFromPairs(sets));
  assert.deepEqual(r.images, { train: 720, test: 720 });
  assert.equal(hasLeakage(r), false);
});

test('planted problems are each found and counted; nothing is changed', async () => {
  const dir = sampleCopy();
  const before = fs.readFileSync(path.join(dir, 'Ebay_test.txt'), 'utf8');
  // 3 training images listed again in the test split under a new product (same path, cross split).
  // 2 training images copied byte for byte to new files listed in test (same content, cross split).
  // 1 test image listed under a second test product (same path, two products of a split).
  // Products 9002, 9003 and 9004 end up with a single image each.
  fs.copyFileSync(path.join(dir, 'animals_final/1_0.jpg'), path.join(dir, 'animals_final/copy_a.jpg'));
  fs.copyFileSync(path.join(dir, 'tools_final/121_3.jpg'), path.join(dir, 'tools_final/copy_b.jpg'));
  appendTest(dir, [
    '5001 9001 1 animals_final/2_0.jpg',
    '5002 9001 1 animals_final/2_1.jpg',
    '5003 9002 5 food_final/49_2.jpg',
    '5004 9003 1 animals_final/copy_a.jpg',
    '5005 9003 1 animals_final/copy_a.jpg',
    '5006 9004 11 tools_final/copy_b.jpg',
    '5008 9005 1 animals_final/145_0.jpg',
    '5009 9005 1 animals_final/145_1.jpg',
  ]);
  const listed = fs.readFileSync(path.join(dir, 'Ebay_test.txt'), 'utf8');
  const r = await checkDataHealth(healthImagesFromSop(dir));
  const crossSplitPaths = r.samePath.filter((g) => g.crossSplit).map((g) => g.listings.map((l) => l.image)[0]);
  assert.deepEqual(crossSplitPaths.sort(), ['animals_final/2_0.jpg', 'animals_final/2_1.jpg', 'food_final/49_2.jpg']);
  const contentLeaks = r.sameContent
    .filter((g) => g.crossSplit)
    .map((g) => g.listings.map((l) => `${l.image} ${l.split}`).sort());
  assert.deepEqual(contentLeaks.sort(), [
    ['animals_final/1_0.jpg train', 'animals_final/copy_a.jpg test'],
    ['tools_final/121_3.jpg train', 'tools_final/copy_b.jpg test'],
  ]);
  const twoProducts = r.samePath.filter((g) => g.crossProduct && !g.crossSplit);
  assert.equal(twoProducts.length, 2, 'animals_final/145_0 and 145_1 are under products 145 and 9005');
  // 9002 and 9004 (one file each) and 9003 (one file listed twice) have a single image; 9001 has two.
  assert.deepEqual(
    r.singleImageProducts.map((p) => `${p.split} ${p.product}`),
    ['test 9002', 'test 9003', 'test 9004'],
  );
  assert.deepEqual(r.productsInBothSplits, []);
  assert.equal(hasLeakage(r), true);
  const text = formatDataHealth(r, '/tmp/report.json');
  assert.match(text, /same file path in train AND test \(leakage\): 3/);
  assert.match(text, /identical file content in train AND test \(leakage\): 2/);
  assert.match(text, /one image under two products of a split \(same path or identical bytes\): 2/);
  assert.match(
    text,
    /products with a single image \(train 0, test 3;.*\): 3\n\s+test product 9002: food_final\/49_2\.jpg/,
  );
  assert.match(text, /Leakage found/);
  assert.equal(fs.readFileSync(path.join(dir, 'Ebay_test.txt'), 'utf8'), listed, 'the lists are not changed');
  assert.notEqual(listed, before);
});

test('a product in both splits is leakage', async () => {
  const dir = sampleCopy();
  appendTest(dir, ['6001 1 1 animals_final/1_0.jpg']);
  const r = await checkDataHealth(healthImagesFromSop(dir));
  assert.deepEqual(r.productsInBothSplits, ['1']);
  assert.match(formatDataHealth(r), /products listed in both splits \(leakage\): 1\n\s+product 1/);
});
