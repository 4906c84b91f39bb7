/**
 * The data-health report's shared reader (src/shared/artifacts/dataHealthFile.ts):
 * what the engine's check writes reads back unchanged; a bad file fails with a
 * message naming the file and the key; the counts and the listed images the
 * panel shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkDataHealth, type HealthImage } from '../../src/engine/data/dataHealth';
import {
  DataHealthFileError,
  dataHealthCounts,
  hasLeakage,
  listedImages,
  parseDataHealth,
} from '../../src/shared/artifacts/dataHealthFile';

async function plantedReport() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-health-file-'));
  const write = (name: string, bytes: string) => fs.writeFileSync(path.join(dir, name), bytes);
  write('a1.jpg', 'a1');
  write('a2.jpg', 'a2');
  write('b1.jpg', 'b1');
  write('c1.jpg', 'c1');
  write('c1-copy.jpg', 'c1'); // the same bytes as a training image, in test
  write('d1.jpg', 'd1');
  const img = (name: string, product: string, split: 'train' | 'test'): HealthImage => ({
    path: path.join(dir, name),
    shown: name,
    product,
    split,
  });
  const images = [
    img('a1.jpg', '1', 'train'),
    img('a2.jpg', '1', 'train'),
    img('b1.jpg', '2', 'train'), // single image
    img('c1.jpg', '3', 'train'),
    img('a1.jpg', '3', 'train'), // one file under products 1 and 3
    img('c1-copy.jpg', '9', 'test'),
    img('d1.jpg', '9', 'test'),
  ];
  const report = await checkDataHealth(images);
  return { dir, report };
}

test("the engine's report reads back unchanged, with its counts", async () => {
  const { dir, report } = await plantedReport();
  const file = path.join(dir, 'data-health.json');
  const written = { ...report, imageRoots: { train: dir, test: dir } };
  fs.writeFileSync(file, JSON.stringify(written));
  const read = parseDataHealth(fs.readFileSync(file, 'utf8'), file);
  assert.deepEqual(read, written);
  assert.equal(hasLeakage(read), true);
  assert.deepEqual(dataHealthCounts(read), {
    singleImageProducts: { train: 1, test: 0, total: 1 },
    imagesUnderTwoProducts: 1,
    imagesInBothSplits: 1,
    productsInBothSplits: 0,
  });
  // Leakage first: the copied pair, then the image under two products, then the single-image product.
  assert.deepEqual(listedImages(read, 20), [
    { split: 'train', image: 'c1.jpg' },
    { split: 'test', image: 'c1-copy.jpg' },
    { split: 'train', image: 'a1.jpg' },
    { split: 'train', image: 'b1.jpg' },
  ]);
  assert.deepEqual(listedImages(read, 0), []);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a bad file fails with a message naming the file and the key', async () => {
  const { report } = await plantedReport();
  const file = '/runs/r1/data-health.json';
  const bad = (value: unknown, key: string, detail: RegExp) => {
    assert.throws(
      () => parseDataHealth(typeof value === 'string' ? value : JSON.stringify(value), file),
      (e: unknown) => {
        assert.ok(e instanceof DataHealthFileError);
        assert.equal(e.file, file);
        assert.equal(e.key, key);
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        if (key) assert.ok(e.message.includes(`"${key}"`), e.message);
        assert.match(e.message, detail);
        return true;
      },
    );
  };
  bad('{"images": ', '', /not valid JSON/);
  bad([1, 2], '', /not a JSON object/);
  const { images: _images, ...noImages } = report;
  bad(noImages, 'images', /must be an object/);
  bad({ ...report, products: { train: 3, test: -1 } }, 'products.test', /non-negative integer/);
  bad(
    { ...report, singleImageProducts: [{ split: 'val', product: '2', image: 'b1.jpg' }] },
    'singleImageProducts[0].split',
    /"train" or "test"/,
  );
  const group = report.sameContent[0]!;
  bad(
    { ...report, sameContent: [{ ...group, listings: [{ ...group.listings[0], image: 7 }] }] },
    'sameContent[0].listings[0].image',
    /must be a string/,
  );
  bad(
    {
      ...report,
      nearDuplicates: {
        model: 'm',
        threshold: 0.99,
        pairs: [{ train: 'a', trainProduct: '1', test: 'b', testProduct: '2' }],
      },
    },
    'nearDuplicates.pairs[0].cosine',
    /must be a number/,
  );
});
