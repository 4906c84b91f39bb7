/**
 * Image loader throughput: decode + training augmentation at 224 px on the
 * sample data set, on the main thread and with 1 and 2 worker threads.
 *
 *   npx tsx scripts/bench-loader.ts [--images N] [--batch N] [--size PX] [--cache]
 *
 * Prints images per second for each setting (after one warm-up batch, which
 * also pays the workers' start-up).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { readSopList } from '../src/engine/data/sopList';
import { ImageLoader } from '../src/engine/image/loader';
import { augmentationSeed, type ImageJob } from '../src/engine/image/transform';
import { augmentationFromConfig } from '../src/engine/image/augment';
import { defaultConfig } from '../src/shared/config/schema';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main() {
  const root = path.resolve(__dirname, '../data/sample-sop');
  const size = arg('size', 224);
  const batch = arg('batch', 32);
  const total = arg('images', 320);
  const cache = process.argv.includes('--cache');
  const list = readSopList(path.join(root, 'Ebay_train.txt'));
  const processing = {
    imageSize: size,
    resizeShortestEdge: Math.round((size * 256) / 224),
    mean: [0.485, 0.456, 0.406] as [number, number, number],
    std: [0.229, 0.224, 0.225] as [number, number, number],
    rescaleFactor: 1 / 255,
  };
  const augmentation = augmentationFromConfig(defaultConfig());
  const jobsFor = (start: number, n: number): ImageJob[] =>
    Array.from({ length: n }, (_, k) => {
      const i = (start + k) % list.length;
      return {
        path: path.join(root, list[i]!.path),
        transform: { kind: 'train', seed: augmentationSeed(42, 1, i, 0) },
      };
    });

  console.log(
    `decode + augment (random resized crop, flip, colour jitter) to ${size}x${size}, batches of ${batch}, ${total} images, cache ${cache ? 'on' : 'off'}`,
  );
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}`);
  for (const numWorkers of [0, 1, 2]) {
    const loader = new ImageLoader({ processing, augmentation, numWorkers, cacheImages: cache });
    try {
      await loader.load(jobsFor(0, batch));
      const t0 = process.hrtime.bigint();
      for (let done = 0; done < total; done += batch)
        await loader.load(jobsFor(batch + done, Math.min(batch, total - done)));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const label = numWorkers === 0 ? 'main thread' : `${numWorkers} worker thread${numWorkers > 1 ? 's' : ''}`;
      console.log(
        `  ${label.padEnd(16)} ${(total / seconds).toFixed(1).padStart(7)} images/s  (${((seconds * 1000) / total).toFixed(1)} ms/image)`,
      );
    } finally {
      await loader.close();
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
