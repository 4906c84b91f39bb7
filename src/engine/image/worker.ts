/**
 * Image worker thread: decodes and transforms images for the loader in
 * loader.ts. Bundled to dist/engine/image-worker.js; run from source under
 * tsx in tests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { ImageReadError, type RgbImage } from './decode';
import { runImageJob } from './transform';
import type { ResultMessage, SharedRgbImage, TaskMessage, WorkerInit } from './workerProtocol';

// Each worker is one of several decoding in parallel: libvips' own thread
// pool and file cache would only compete with the other workers. (These
// settings are process-wide: once a worker starts, the engine's other sharp
// calls run single-threaded and uncached as well, which suits a busy
// training process; measured with scripts/bench-loader.ts.)
sharp.concurrency(1);
sharp.cache(false);

const init = workerData as WorkerInit;
const port = parentPort!;
const queue: TaskMessage[] = [];
let active = 0;

function toShared(img: RgbImage): SharedRgbImage {
  const buffer = new SharedArrayBuffer(img.data.length);
  new Uint8Array(buffer).set(img.data);
  return { buffer, width: img.width, height: img.height };
}

async function run(task: TaskMessage): Promise<void> {
  let reply: ResultMessage;
  const transfer: ArrayBuffer[] = [];
  try {
    const cached = task.cached
      ? { data: new Uint8Array(task.cached.buffer), width: task.cached.width, height: task.cached.height }
      : undefined;
    const { pixels, decoded } = await runImageJob(task.job, init.settings, cached);
    reply = { id: task.id, ok: true, pixels, ...(task.returnDecoded && !cached ? { decoded: toShared(decoded) } : {}) };
    transfer.push(pixels.buffer as ArrayBuffer);
  } catch (e) {
    reply = {
      id: task.id,
      ok: false,
      path: task.job.path,
      reason: e instanceof ImageReadError ? e.reason : String((e as Error).message ?? e),
    };
  }
  port.postMessage(reply, transfer);
}

function pump(): void {
  while (active < init.maxActive && queue.length > 0) {
    const task = queue.shift()!;
    active++;
    void run(task).finally(() => {
      active--;
      pump();
    });
  }
}

port.on('message', (task: TaskMessage) => {
  queue.push(task);
  pump();
});
