/**
 * Embedding on every core: the wasm backend computes on one thread per
 * instance, so on a machine with several cores each worker thread gets its
 * own wasm instance and a copy of the encoder (model/snapshot.ts), and whole
 * batches are handed to whichever worker is free. Each batch is computed
 * exactly as the main thread would compute it (same batch boundaries, same
 * code), so the result is bit for bit the serial one.
 *
 * Costs: per worker, a wasm heap holding a copy of the weights and one
 * forward pass of at most 8 images (embedPixels.ts; DINOv2-small at 224 px:
 * ~0.45 GB), and about a second to start; `embeddingThreads` only asks for
 * workers when the image count makes that worth it.
 */
import type { Worker } from 'node:worker_threads';
import { computeThreadRequest, computeThreads, type ThreadRequest } from '../backend/threads';
import { poolThreads } from '../util/threadCap';
import { Dinov2ImageEncoder } from '../model/encoder';
import { snapshotEncoder } from '../model/snapshot';
import type { PixelBatch } from '../model/types';
import { startWorker } from '../util/startWorker';
import type { EmbedReply, EmbedRequest, EmbedWorkerInit } from './embedWorkerProtocol';

/** The worker's file next to the engine bundle (scripts/build.mjs bundles embedWorker.ts under this name). */
export const BUNDLED_EMBED_WORKER_FILE = 'embed-worker.js';

/** Fewer images than this embed on the calling thread: starting workers (~1 s each) would cost more than it saves. */
export const MIN_IMAGES_FOR_WORKERS = 32;

export type { ThreadRequest };

/**
 * How many worker threads to embed `images` images in `batches` batches with.
 * 0 means the calling thread. `requested` defaults to the process-wide
 * choice (backend/threads.ts); 'auto': one per core on the wasm backend
 * (native TensorFlow already uses every core) for a DINOv2 encoder, when
 * there are at least two batches and MIN_IMAGES_FOR_WORKERS images.
 */
export function embeddingThreads(
  requested: ThreadRequest | undefined,
  encoder: unknown,
  images: number,
  batches: number,
): number {
  const request = requested ?? computeThreadRequest();
  if (request !== 'auto') {
    if (!Number.isInteger(request) || request < 0)
      throw new Error(`embedding threads must be an integer >= 0 or 'auto', got ${request}`);
    return request <= 1 || !(encoder instanceof Dinov2ImageEncoder)
      ? 0
      : Math.min(poolThreads('wasm', request), batches);
  }
  if (!(encoder instanceof Dinov2ImageEncoder) || images < MIN_IMAGES_FOR_WORKERS || batches < 2) return 0;
  const threads = computeThreads('auto');
  return threads < 2 ? 0 : Math.min(threads, batches);
}

/** One embedding worker: a thread with its own wasm backend and encoder copy, one batch at a time. */
export class EmbedWorker {
  private nextId = 1;
  private pending?: {
    id: number;
    resolve: (reply: Extract<EmbedReply, { type: 'embedded' | 'memory' }>) => void;
    reject: (e: Error) => void;
  };
  private ready?: { resolve: () => void; reject: (e: Error) => void };
  private failure?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: EmbedReply) => this.onMessage(m));
    worker.on('error', (e) => this.fail(new Error(`embedding worker failed: ${e.message}`)));
    worker.on('exit', (code) => this.fail(new Error(`embedding worker exited (code ${code})`)));
  }

  /** Start a worker and wait until its encoder copy is built. */
  static async start(init: EmbedWorkerInit): Promise<EmbedWorker> {
    const w = new EmbedWorker(startWorker(__dirname, BUNDLED_EMBED_WORKER_FILE, 'embedWorker.ts', init));
    try {
      await new Promise<void>((resolve, reject) => {
        w.ready = { resolve, reject };
        if (w.failure) reject(w.failure);
      });
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  private onMessage(m: EmbedReply): void {
    if (m.type === 'ready') {
      this.ready?.resolve();
      this.ready = undefined;
      return;
    }
    if (m.type === 'error' && m.id === undefined) {
      this.fail(new Error(`embedding worker: ${m.message}`));
      return;
    }
    const p = this.pending;
    if (!p || p.id !== m.id) return;
    this.pending = undefined;
    if (m.type === 'error') p.reject(new Error(`embedding worker: ${m.message}`));
    else p.resolve(m);
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.ready?.reject(e);
    this.ready = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }

  private request(message: EmbedRequest): Promise<Extract<EmbedReply, { type: 'embedded' | 'memory' }>> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('internal: an embedding worker got a request while busy'));
    return new Promise((resolve, reject) => {
      this.pending = { id: message.id, resolve, reject };
      this.worker.postMessage(message);
    });
  }

  /** Embed one batch; the pixels are copied to the worker (the caller keeps its array). */
  async embed(pixels: PixelBatch): Promise<Float32Array> {
    if (pixels.height !== pixels.width)
      throw new Error(`internal: embedding workers take square images, got ${pixels.height}x${pixels.width}`);
    const r = await this.request({
      type: 'embed',
      id: this.nextId++,
      data: pixels.data,
      n: pixels.n,
      size: pixels.height,
    });
    if (r.type !== 'embedded') throw new Error(`internal: embedding worker answered ${r.type}`);
    return r.data;
  }

  /** The worker's wasm heap (its peak: it never shrinks) and live tf bytes. */
  async memory(): Promise<{ wasmHeapBytes: number; tfBytes: number }> {
    const r = await this.request({ type: 'memory', id: this.nextId++ });
    if (r.type !== 'memory') throw new Error(`internal: embedding worker answered ${r.type}`);
    return { wasmHeapBytes: r.wasmHeapBytes, tfBytes: r.tfBytes };
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.worker.removeAllListeners('error');
    this.worker.on('error', () => {});
    this.fail(new Error('embedding worker closed'));
    await this.worker.terminate();
  }
}

/**
 * Start `count` workers with copies of `encoder`. Workers that fail to start
 * are left out; `notes` says why. Resolves to the workers that started (maybe none).
 */
export async function startEmbedWorkers(
  encoder: Dinov2ImageEncoder,
  count: number,
): Promise<{ workers: EmbedWorker[]; notes: string[] }> {
  let init: EmbedWorkerInit;
  try {
    init = { snapshot: snapshotEncoder(encoder) };
  } catch (e) {
    return { workers: [], notes: [`could not copy the model for the embedding workers: ${(e as Error).message}`] };
  }
  const started = await Promise.allSettled(Array.from({ length: count }, () => EmbedWorker.start(init)));
  const workers: EmbedWorker[] = [];
  const notes: string[] = [];
  for (const r of started) {
    if (r.status === 'fulfilled') workers.push(r.value);
    else notes.push((r.reason as Error).message);
  }
  return { workers, notes };
}

export interface BatchJob {
  /** Index of the batch's first image. */
  start: number;
  count: number;
}

export interface ParallelEmbedInput {
  workers: EmbedWorker[];
  batches: readonly BatchJob[];
  /** Decode and preprocess one batch (called ahead of need, at most workers + 1 batches at a time). */
  load: (batch: BatchJob) => Promise<PixelBatch>;
  /** Embed a batch on the calling thread, when every worker has failed. */
  embedHere: (pixels: PixelBatch) => Promise<Float32Array>;
  /** Where batch results go: `out.set(data, start * dim)`. */
  out: Float32Array;
  dim: number;
  onBatchDone?: (batch: BatchJob) => void;
  onNote?: (message: string) => void;
  /** Checked before each batch; throwing from it stops the run. */
  checkAbort?: () => void;
}

/**
 * Embed every batch, each on the first free worker, loading ahead of the
 * workers. A worker that fails mid-run hands its batch back and stops; when
 * none is left, the rest is embedded on the calling thread.
 */
export async function embedBatchesInParallel(input: ParallelEmbedInput): Promise<void> {
  const { batches, workers } = input;
  const loads = new Map<number, Promise<PixelBatch>>();
  let loadedUpTo = 0;
  const queue: number[] = batches.map((_, i) => i);
  const loadAhead = (): void => {
    const wanted = Math.min(batches.length, (queue[0] ?? batches.length) + workers.length + 1);
    while (loadedUpTo < wanted) {
      const i = loadedUpTo++;
      const p = input.load(batches[i]!);
      p.catch(() => undefined); // awaited later; keeps an early failure from being reported as unhandled
      loads.set(i, p);
    }
  };
  const pixelsOf = (i: number): Promise<PixelBatch> => {
    let p = loads.get(i);
    if (!p) {
      p = input.load(batches[i]!);
      loads.set(i, p);
    }
    return p;
  };
  let alive = workers.length;
  let firstError: unknown = undefined;

  const runLane = async (worker: EmbedWorker | null): Promise<void> => {
    while (queue.length > 0 && firstError === undefined) {
      input.checkAbort?.();
      const i = queue.shift()!;
      loadAhead();
      const pixels = await pixelsOf(i);
      let data: Float32Array;
      try {
        data = worker ? await worker.embed(pixels) : await input.embedHere(pixels);
      } catch (e) {
        if (!worker?.failed || firstError !== undefined) throw e;
        // The worker is gone: its batch goes back to the queue for another lane.
        queue.unshift(i);
        alive--;
        input.onNote?.(
          `${worker.failed.message}; ${alive > 0 ? `going on with ${alive} worker(s)` : 'embedding the rest on the main thread'}`,
        );
        if (alive === 0) await runLane(null);
        return;
      }
      loads.delete(i);
      input.out.set(data, batches[i]!.start * input.dim);
      input.onBatchDone?.(batches[i]!);
    }
  };
  // A lane that fails (or sees the abort) records why; the others stop after their current batch.
  const lane = (worker: EmbedWorker | null): Promise<void> =>
    runLane(worker).catch((e: unknown) => {
      firstError ??= e;
    });
  await Promise.all(workers.map((w) => lane(w)));
  if (firstError === undefined && queue.length > 0) await lane(null); // no worker at all
  if (firstError !== undefined) throw firstError;
}
