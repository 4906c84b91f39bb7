// Parallel embedding (worker threads, each with its own wasm backend and model copy) against the serial path:
// the same batches through the same code must give the same floats, bit for bit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf } from '../../../src/engine/backend/tf';
import { ImageLoader } from '../../../src/engine/image/loader';
import { loadImageEncoder } from '../../../src/engine/model';
import type { Dinov2ImageEncoder } from '../../../src/engine/model/encoder';
import { embedImages } from '../../../src/engine/run/embed';
import { embedPixels, MAX_IMAGES_PER_PASS } from '../../../src/engine/run/embedPixels';
import {
  embedBatchesInParallel,
  embeddingThreads,
  startEmbedWorkers,
  type BatchJob,
} from '../../../src/engine/run/parallelEmbed';
import { Rng } from '../../../src/engine/util/rng';
import { tempDir, writePairData, writeTinyModel } from './fixtures';

let work: string;
let images: string[];
let encoder: Dinov2ImageEncoder;
let loader: ImageLoader;

before(async () => {
  await activateBackend('wasm');
  work = tempDir('pembed');
  await writeTinyModel(path.join(work, 'model'));
  await writePairData(work, 8, 3);
  images = fs
    .readdirSync(work)
    .filter((f) => f.endsWith('.png'))
    .sort()
    .map((f) => path.join(work, f));
  encoder = await loadImageEncoder(path.join(work, 'model'), {
    imageSize: 28,
    finetune: { kind: 'lora', settings: { r: 4, alpha: 8, dropout: 0, targetModules: null } },
    projectionDim: 16,
    seed: 5,
  });
  // Non-zero adapters, so that the copies must carry them to agree.
  const rng = new Rng(9);
  for (const [, v] of encoder.trainableVariables())
    v.assign(
      tf.tensor(
        Float32Array.from({ length: v.size }, () => rng.uniform(-0.2, 0.2)),
        v.shape,
      ),
    );
  encoder.setTrainable('none');
  loader = new ImageLoader({ processing: encoder.processing, numWorkers: 0 });
});

after(async () => {
  await loader.close();
  encoder.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

test('two workers embed exactly what the main thread embeds (LoRA adapters and a projection head included)', async () => {
  assert.equal(images.length, 24);
  const serial = await embedImages(encoder, loader, images, { batchSize: 5, threads: 0 });
  const notes: string[] = [];
  let lastDone = 0;
  const parallel = await embedImages(encoder, loader, images, {
    batchSize: 5,
    threads: 2,
    onNote: (m) => notes.push(m),
    onProgress: (done) => (lastDone = done),
  });
  assert.deepEqual(notes, []);
  assert.equal(lastDone, images.length);
  assert.equal(parallel.length, images.length * 16);
  assert.ok(serial.every(Number.isFinite));
  assert.deepEqual(parallel, serial);
});

test('workers that die hand their batches back; with none left the main thread finishes, with the same result', async () => {
  const serial = await embedImages(encoder, loader, images, { batchSize: 4, threads: 0 });
  const { workers, notes: startNotes } = await startEmbedWorkers(encoder, 2);
  assert.deepEqual(startNotes, []);
  await workers[0]!.close(); // dead before the run
  const batches: BatchJob[] = [];
  for (let s = 0; s < images.length; s += 4) batches.push({ start: s, count: Math.min(4, images.length - s) });
  const out = new Float32Array(images.length * 16);
  const notes: string[] = [];
  let done = 0;
  await embedBatchesInParallel({
    workers,
    batches,
    load: (b) =>
      loader.load(
        images.slice(b.start, b.start + b.count).map((p) => ({ path: p, transform: { kind: 'eval' as const } })),
      ),
    embedHere: (px) => embedPixels(encoder, px),
    out,
    dim: 16,
    onBatchDone: (b) => {
      done += b.count;
      if (done >= 8) void workers[1]!.close(); // the second one dies mid-run
    },
    onNote: (m) => notes.push(m),
  });
  await workers[1]!.close();
  assert.equal(notes.length, 2, notes.join('\n'));
  assert.match(notes[0]!, /closed; going on with 1 worker/);
  assert.match(notes[1]!, /embedding the rest on the main thread/);
  assert.deepEqual(out, serial);
});

test("a failing batch (unreadable image) fails the parallel run with the loader's error", async () => {
  const broken = path.join(work, 'broken.png');
  fs.writeFileSync(broken, 'not a png');
  const list = [...images.slice(0, 10), broken, ...images.slice(10)];
  await assert.rejects(embedImages(encoder, loader, list, { batchSize: 4, threads: 2 }), /broken\.png/);
});

test('a batch is embedded in passes of at most 8 images, with the same floats as one pass over all of them', async () => {
  const pixels = await loader.load(images.slice(0, 11).map((p) => ({ path: p, transform: { kind: 'eval' as const } })));
  const split = await embedPixels(encoder, pixels);
  const whole = tf.tidy(() => encoder.embed(tf.tensor4d(pixels.data, [11, pixels.height, pixels.width, 3]))).dataSync();
  assert.equal(MAX_IMAGES_PER_PASS, 8);
  assert.deepEqual(split, whole);
});

test('auto threads: workers only on wasm, for enough images, in at least two batches', () => {
  assert.equal(embeddingThreads('auto', encoder, 8, 2), 0);
  assert.equal(embeddingThreads('auto', encoder, 1000, 1), 0);
  assert.equal(embeddingThreads('auto', {}, 1000, 40), 0);
  assert.equal(embeddingThreads(1, encoder, 1000, 40), 0);
  assert.equal(embeddingThreads(3, encoder, 1000, 2), 2);
  assert.throws(() => embeddingThreads(-1, encoder, 10, 2), /integer >= 0/);
});
