// The image loader: worker threads give the same pixels as the main thread,
// the cache, errors by path, and prefetching.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageLoader, imageLoaderFromConfig } from '../../../src/engine/image/loader';
import { ImageReadError } from '../../../src/engine/image/decode';
import { augmentationSeed, type ImageJob } from '../../../src/engine/image/transform';
import { prefetchBatches } from '../../../src/engine/image/prefetch';
import { defaultConfig } from '../../../src/shared/config/schema';
import { DINO_PROCESSING, writePattern } from './helpers';

const AUG = { randomResizedCrop: true, cropScaleMin: 0.4, horizontalFlip: true, colorJitter: 0.3 };
let dir: string;
let files: string[];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-loader-'));
  files = [];
  for (let i = 0; i < 6; i++) {
    const f = path.join(dir, `img${i}.${i % 2 ? 'png' : 'jpg'}`);
    await writePattern(f, 60 + 13 * i, 90 - 7 * i, i);
    files.push(f);
  }
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function jobs(): ImageJob[] {
  return [
    ...files.map((p): ImageJob => ({ path: p, transform: { kind: 'eval' } })),
    ...files.map((p, i): ImageJob => ({ path: p, transform: { kind: 'train', seed: augmentationSeed(42, 1, i, 0) } })),
    { path: files[0]!, transform: { kind: 'train', seed: 5 } },
  ];
}

async function loadWith(numWorkers: number, cacheImages = false) {
  const loader = new ImageLoader({ processing: DINO_PROCESSING, augmentation: AUG, numWorkers, cacheImages });
  try {
    const first = await loader.load(jobs());
    const second = await loader.load(jobs());
    return { first, second, stats: loader.cacheStats() };
  } finally {
    await loader.close();
  }
}

test('worker threads return exactly the pixels of the main thread', async () => {
  const main = await loadWith(0);
  assert.equal(main.first.n, 13);
  assert.equal(main.first.height, 56);
  assert.equal(main.first.width, 56);
  assert.equal(main.first.data.length, 13 * 56 * 56 * 3);
  assert.deepEqual(main.second.data, main.first.data, 'the same jobs give the same batch');
  for (const n of [1, 2]) {
    const w = await loadWith(n);
    assert.deepEqual(w.first.data, main.first.data, `${n} worker(s)`);
  }
});

test('the image cache holds decoded images and changes no pixel', async () => {
  const plain = await loadWith(0);
  for (const n of [0, 2]) {
    const cached = await loadWith(n, true);
    assert.equal(cached.stats.images, files.length, `${n} workers: one entry per distinct file`);
    assert.ok(cached.stats.bytes > 0 && !cached.stats.full);
    assert.deepEqual(cached.first.data, plain.first.data);
    assert.deepEqual(cached.second.data, plain.first.data, 'from the cache');
  }
});

test('the cache stops growing at its limit and says so once', async () => {
  let fullAt = -1;
  let calls = 0;
  const loader = new ImageLoader({
    processing: DINO_PROCESSING,
    numWorkers: 0,
    cacheImages: true,
    cacheMaxBytes: 40000,
    onCacheFull: (b) => ((fullAt = b), calls++),
  });
  await loader.load(jobs());
  await loader.load(jobs());
  await loader.close();
  const s = loader.cacheStats();
  assert.equal(calls, 1);
  assert.ok(fullAt > 0 && fullAt <= 40000);
  assert.equal(s.full, true);
});

test('a broken image rejects the batch naming its path; the loader keeps working', async () => {
  const broken = path.join(dir, 'broken.jpg');
  fs.writeFileSync(broken, 'not a jpeg');
  for (const n of [0, 2]) {
    const loader = new ImageLoader({ processing: DINO_PROCESSING, numWorkers: n });
    try {
      await assert.rejects(
        loader.load([
          { path: files[0]!, transform: { kind: 'eval' } },
          { path: broken, transform: { kind: 'eval' } },
        ]),
        (e: unknown) => e instanceof ImageReadError && e.path === broken && e.message.includes(broken),
      );
      await assert.rejects(
        loader.load([{ path: path.join(dir, 'missing.png'), transform: { kind: 'eval' } }]),
        /missing\.png: file not found/,
      );
      const ok = await loader.load([{ path: files[1]!, transform: { kind: 'eval' } }]);
      assert.equal(ok.n, 1);
    } finally {
      await loader.close();
    }
  }
});

test('a closed loader refuses work', async () => {
  const loader = new ImageLoader({ processing: DINO_PROCESSING, numWorkers: 1 });
  await loader.load([{ path: files[0]!, transform: { kind: 'eval' } }]);
  await loader.close();
  await loader.close();
  await assert.rejects(loader.load([{ path: files[0]!, transform: { kind: 'eval' } }]), /closed/);
});

test('imageLoaderFromConfig reads num_workers, enable_image_cache and the augmentation keys', async () => {
  const loader = imageLoaderFromConfig(
    { ...defaultConfig(), num_workers: 2, enable_image_cache: true },
    DINO_PROCESSING,
  );
  assert.equal(loader.numWorkers, 2);
  await loader.load([{ path: files[2]!, transform: { kind: 'train', seed: 1 } }]);
  assert.equal(loader.cacheStats().images, 1);
  await loader.close();
});

test('prefetchBatches keeps `depth` loads ahead of the consumer, in order', async () => {
  const started: number[] = [];
  const load = async (i: number) => {
    started.push(i);
    await new Promise((r) => setTimeout(r, 5));
    return i * 10;
  };
  const seen: number[] = [];
  for await (const v of prefetchBatches([0, 1, 2, 3, 4], load, 2)) {
    const i = v / 10;
    seen.push(v);
    // While the consumer holds batch i, batches up to i + 2 have been started.
    assert.equal(Math.max(...started), Math.min(4, i + 2), `holding ${i}, started ${started}`);
  }
  assert.deepEqual(seen, [0, 10, 20, 30, 40]);
});

test('prefetchBatches passes a failure on at its batch', async () => {
  const got: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const v of prefetchBatches([1, 2, 3], async (i) =>
        i === 2 ? Promise.reject(new Error('boom 2')) : i,
      ))
        got.push(v);
    })(),
    /boom 2/,
  );
  assert.deepEqual(got, [1]);
});
