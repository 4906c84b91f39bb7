/**
 * The image loader: turns a list of image jobs into a PixelBatch, decoding
 * and augmenting in a pool of worker threads (num_workers; 0 decodes on the
 * main thread), with an optional in-memory cache of decoded images
 * (enable_image_cache).
 *
 * All jobs of a batch are handed to the workers at once, so they keep
 * working while the main thread is busy in a training step; use
 * `prefetchBatches` (prefetch.ts) to have the next batch decoding while the
 * current one trains.
 *
 * The cache lives on the main thread and holds decoded images in shared
 * memory: any worker can read a cached image without a copy. It stops
 * growing at `cacheMaxBytes` (no eviction: with epochs that visit every image
 * in turn, evicting the oldest would only miss on every read).
 */
import * as os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { poolThreads, threadCapNote } from '../util/threadCap';
import type { TrainConfig } from '../../shared/config/schema';
import type { ImageProcessing, PixelBatch } from '../model/types';
import { ImageReadError, type RgbImage } from './decode';
import { NO_AUGMENTATION, augmentationFromConfig, type AugmentationOptions } from './augment';
import { pixelsPerImage, runImageJob, type ImageJob, type PipelineSettings } from './transform';
import { spawnImageWorker } from './spawnWorker';
import type { ResultMessage, SharedRgbImage, TaskMessage } from './workerProtocol';

export interface ImageLoaderOptions {
  processing: ImageProcessing;
  /** For `train` jobs; default: no augmentation. */
  augmentation?: AugmentationOptions;
  /** Worker threads; 0 runs everything on the calling thread. */
  numWorkers: number;
  cacheImages?: boolean;
  /** Cache size limit; default min(2 GiB, a quarter of the machine's memory). */
  cacheMaxBytes?: number;
  /** Called once when the cache reaches its limit. */
  onCacheFull?: (bytes: number) => void;
}

export interface CacheStats {
  images: number;
  bytes: number;
  full: boolean;
}

interface Pending {
  resolve: (r: Extract<ResultMessage, { ok: true }>) => void;
  reject: (e: Error) => void;
  path: string;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** What to tell the user when a loader starts fewer threads than num_workers asked for (the thread rule's note). */
export function workersCappedMessage(loader: Pick<ImageLoader, 'numWorkers' | 'requestedWorkers'>): string | undefined {
  return threadCapNote('num_workers', loader.requestedWorkers, ['decoding']);
}

/** Jobs running at once on the main thread (decoding is asynchronous in sharp). */
const MAIN_THREAD_CONCURRENCY = 2;

export class ImageLoader {
  private readonly settings: PipelineSettings;
  private readonly cache = new Map<string, RgbImage>();
  private cacheBytes = 0;
  private cacheFull = false;
  private readonly cacheMax: number;
  private workers: PoolWorker[] | undefined;
  private nextId = 1;
  private failure: Error | undefined;
  private closed = false;

  constructor(private readonly options: ImageLoaderOptions) {
    if (!Number.isInteger(options.numWorkers) || options.numWorkers < 0)
      throw new Error(`num_workers must be an integer >= 0, got ${options.numWorkers}`);
    this.settings = { processing: options.processing, augmentation: options.augmentation ?? NO_AUGMENTATION };
    this.cacheMax = options.cacheMaxBytes ?? Math.min(2 * 1024 ** 3, Math.floor(os.totalmem() / 4));
  }

  /**
   * Worker threads this loader uses: num_workers, capped by the thread rule (each worker keeps two jobs in flight
   * and costs its own V8 heap and libvips state: `--num_workers 1000` took 4.6 GB for one image).
   */
  get numWorkers(): number {
    return poolThreads('decoding', this.options.numWorkers);
  }

  /** What num_workers asked for. */
  get requestedWorkers(): number {
    return this.options.numWorkers;
  }

  cacheStats(): CacheStats {
    return { images: this.cache.size, bytes: this.cacheBytes, full: this.cacheFull };
  }

  /**
   * Decode and transform `jobs` into one NHWC batch, in job order. Rejects with an ImageReadError naming the first
   * image that failed.
   */
  async load(jobs: readonly ImageJob[]): Promise<PixelBatch> {
    if (this.closed) throw new Error('image loader is closed');
    if (this.failure) throw this.failure;
    const size = this.settings.processing.imageSize;
    const per = pixelsPerImage(this.settings.processing);
    const data = new Float32Array(jobs.length * per);
    const results = this.numWorkers === 0 ? this.runOnMainThread(jobs) : this.runOnWorkers(jobs);
    // Wait for every job, even after a failure, so no work for this batch is left running.
    const settled = await Promise.allSettled(results.map((r, i) => r.then((pixels) => data.set(pixels, i * per))));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return { data, n: jobs.length, height: size, width: size };
  }

  private remember(path: string, img: RgbImage): void {
    if (!this.options.cacheImages || this.cacheFull || this.cache.has(path)) return;
    if (this.cacheBytes + img.data.length > this.cacheMax) {
      this.cacheFull = true;
      this.options.onCacheFull?.(this.cacheBytes);
      return;
    }
    this.cache.set(path, img);
    this.cacheBytes += img.data.length;
  }

  private runOnMainThread(jobs: readonly ImageJob[]): Promise<Float32Array>[] {
    const results = jobs.map(() => deferred<Float32Array>());
    let next = 0;
    // A few runners take jobs in order: one can decode (sharp, off-thread) while another transforms.
    const runner = async () => {
      while (next < jobs.length) {
        const i = next++;
        const job = jobs[i]!;
        try {
          const { pixels, decoded } = await runImageJob(job, this.settings, this.cache.get(job.path));
          this.remember(job.path, decoded);
          results[i]!.resolve(pixels);
        } catch (e) {
          results[i]!.reject(e);
        }
      }
    };
    for (let k = 0; k < Math.min(MAIN_THREAD_CONCURRENCY, jobs.length); k++) void runner();
    return results.map((r) => r.promise);
  }

  private startWorkers(): PoolWorker[] {
    const init = { settings: this.settings, maxActive: 2 };
    const pool = Array.from({ length: this.numWorkers }, (): PoolWorker => {
      const pw: PoolWorker = { worker: spawnImageWorker(init), pending: new Map() };
      pw.worker.on('message', (msg: ResultMessage) => this.onResult(pw, msg));
      pw.worker.on('error', (e) => this.fail(new Error(`image worker failed: ${e.message}`)));
      pw.worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`image worker exited unexpectedly (code ${code})`));
      });
      // Idle workers must not keep the process alive; busy ones must.
      pw.worker.unref();
      return pw;
    });
    return pool;
  }

  private onResult(pw: PoolWorker, msg: ResultMessage): void {
    const p = pw.pending.get(msg.id);
    if (!p) return;
    pw.pending.delete(msg.id);
    if (pw.pending.size === 0) pw.worker.unref();
    if (msg.ok) p.resolve(msg);
    else p.reject(new ImageReadError(msg.path, msg.reason));
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const pw of this.workers ?? []) {
      for (const p of pw.pending.values()) p.reject(e);
      pw.pending.clear();
    }
  }

  private runOnWorkers(jobs: readonly ImageJob[]): Promise<Float32Array>[] {
    this.workers ??= this.startWorkers();
    const pool = this.workers;
    return jobs.map((job) => {
      // The least busy worker (all of a batch is queued at once, so this balances counts).
      let pw = pool[0]!;
      for (const w of pool) if (w.pending.size < pw.pending.size) pw = w;
      const id = this.nextId++;
      const cached = this.cache.get(job.path);
      const shared: SharedRgbImage | undefined =
        cached && cached.data.buffer instanceof SharedArrayBuffer
          ? { buffer: cached.data.buffer, width: cached.width, height: cached.height }
          : undefined;
      const task: TaskMessage = {
        id,
        job,
        returnDecoded: !!this.options.cacheImages && !this.cacheFull && !cached,
        ...(shared ? { cached: shared } : {}),
      };
      return new Promise<Extract<ResultMessage, { ok: true }>>((resolve, reject) => {
        if (this.failure) return reject(this.failure);
        if (pw.pending.size === 0) pw.worker.ref();
        pw.pending.set(id, { resolve, reject, path: job.path });
        pw.worker.postMessage(task);
      }).then((r) => {
        if (r.decoded)
          this.remember(job.path, {
            data: new Uint8Array(r.decoded.buffer),
            width: r.decoded.width,
            height: r.decoded.height,
          });
        return r.pixels;
      });
    });
  }

  /** Stop the workers. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ws = this.workers ?? [];
    this.workers = undefined;
    for (const pw of ws) for (const p of pw.pending.values()) p.reject(new Error('image loader closed'));
    await Promise.all(ws.map((pw) => pw.worker.terminate()));
    this.cache.clear();
    this.cacheBytes = 0;
  }
}

/** A loader set up from the training config's data and augmentation keys. */
export function imageLoaderFromConfig(
  config: Pick<
    TrainConfig,
    'num_workers' | 'enable_image_cache' | 'random_resized_crop' | 'crop_scale_min' | 'horizontal_flip' | 'color_jitter'
  >,
  processing: ImageProcessing,
  extra: Pick<ImageLoaderOptions, 'cacheMaxBytes' | 'onCacheFull'> = {},
): ImageLoader {
  return new ImageLoader({
    processing,
    augmentation: augmentationFromConfig(config),
    numWorkers: config.num_workers,
    cacheImages: config.enable_image_cache,
    ...extra,
  });
}
