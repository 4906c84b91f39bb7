/**
 * The gradient cache on every core. The wasm backend computes on one thread
 * per instance, so the main thread and each worker thread (with its own wasm
 * instance and a copy of the encoder) form "lanes", and a step's chunks are
 * dealt to them in turn: chunk j of the step (queries first, then positives)
 * goes to lane j mod lanes, lane 0 being the main thread.
 *
 * One step:
 *  0. the workers get the current trainable values (they change every step);
 *  1. every lane embeds its chunks without a tape;
 *  2. the main thread computes the loss and dLoss/dEmbeddings;
 *  3. every lane back-propagates its chunks with their slices of that
 *     gradient and sums its parameter gradients; the main thread adds the
 *     lanes' sums in lane order.
 * Workers get a chunk's pixels with each request and keep nothing between
 * requests but the model, so their memory does not grow with the batch.
 * Embeddings and per-chunk gradients are those of the serial gradient cache
 * bit for bit; only the order of the final additions differs, and it is
 * fixed for a given number of lanes, so runs are reproducible.
 *
 * A worker that fails is dropped and its chunks are computed on the main
 * thread, so a step never fails because of a worker.
 */
import type { Worker } from 'node:worker_threads';
import { tf, type Tensor, type Tensor2D } from '../../backend/tf';
import { computeThreadRequest, computeThreads, type ThreadRequest } from '../../backend/threads';
import { Dinov2ImageEncoder } from '../../model/encoder';
import { snapshotEncoder, trainableValues } from '../../model/snapshot';
import type { ImageEncoder } from '../../model/types';
import { startWorker } from '../../util/startWorker';
import {
  accumulateGradients,
  batchSize,
  cachedGradients,
  chunkParameterGradients,
  embedChunk,
  lossAndEmbeddingGradients,
  trainableList,
  type BatchGradients,
  type GradientOptions,
  type PairBatch,
} from '../gradients';
import { isLoadable, type AnyPixelSource } from '../pixels';
import type { PairSide } from '../seeds';
import type { ChunkSettings, GradientReply, GradientRequest, GradientWorkerInit } from './protocol';
import { ChunkLoadError, StepChunks } from './stepChunks';

/** The worker's file next to the engine bundle (scripts/build.mjs bundles worker.ts under this name). */
export const BUNDLED_GRADIENT_WORKER_FILE = 'gradient-worker.js';

/**
 * One worker thread with a copy of the encoder. Requests may be queued: the
 * worker answers them in order, so replies are matched first in, first out.
 */
class GradientWorker {
  private readonly pending: Array<{ resolve: (r: GradientReply) => void; reject: (e: Error) => void }> = [];
  private failure?: Error;

  constructor(private readonly worker: Worker) {
    worker.on('message', (m: GradientReply) => {
      const p = this.pending.shift();
      if (!p) return;
      if (m.type === 'error') p.reject(new Error(`gradient worker: ${m.message}`));
      else p.resolve(m);
    });
    worker.on('error', (e) => this.fail(new Error(`gradient worker failed: ${e.message}`)));
    worker.on('exit', (code) => this.fail(new Error(`gradient worker exited (code ${code})`)));
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }

  /** The next unrequested reply: the worker's first message, 'ready'. */
  ready(): Promise<GradientReply> {
    return this.expect();
  }

  private expect(): Promise<GradientReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  async request<T extends GradientReply['type']>(
    message: GradientRequest,
    expect: T,
    transfer: ArrayBuffer[] = [],
  ): Promise<Extract<GradientReply, { type: T }>> {
    const reply = this.expect();
    if (!this.failure) this.worker.postMessage(message, transfer);
    const r = await reply;
    if (r.type !== expect) throw new Error(`internal: gradient worker answered ${r.type} to ${message.type}`);
    return r as Extract<GradientReply, { type: T }>;
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.worker.removeAllListeners('error');
    this.worker.on('error', () => {});
    this.fail(new Error('gradient worker closed'));
    await this.worker.terminate();
  }
}

/**
 * Requests in flight per worker: enough that it never waits for this thread, few enough that little pixel data is in
 * flight.
 */
const WINDOW = 2;

/** Let replies from the workers in between two chunks computed on this thread. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * How many workers to add to the main thread for `request` computing threads
 * (default: the process-wide choice, backend/threads.ts): one per further
 * thread on the wasm backend, none elsewhere.
 */
export function gradientWorkerCount(request: ThreadRequest = computeThreadRequest()): number {
  if (request !== 'auto' && (!Number.isInteger(request) || request < 1))
    throw new Error(`computing threads must be an integer >= 1 or 'auto', got ${request}`);
  return computeThreads(request) - 1;
}

/** A PairBatch whose sides may also be loaded chunk by chunk. */
export interface LanePairBatch extends Omit<PairBatch, 'queries' | 'positives'> {
  queries: AnyPixelSource;
  positives: AnyPixelSource;
}

/** Worker threads that share the gradient cache's work with the main thread, for one encoder. */
export class GradientLanes {
  private constructor(
    readonly encoder: ImageEncoder,
    private workers: GradientWorker[],
    private readonly onNote: (message: string) => void,
  ) {}

  /**
   * Start `count` workers (see gradientWorkerCount) with copies of `encoder`.
   * Workers that cannot start are left out, with a note; with none, every
   * step runs on the main thread alone.
   */
  static async start(
    encoder: ImageEncoder,
    count: number,
    onNote: (message: string) => void = () => {},
  ): Promise<GradientLanes> {
    const lanes = new GradientLanes(encoder, [], onNote);
    if (count < 1) return lanes;
    if (!(encoder instanceof Dinov2ImageEncoder)) {
      onNote('gradient workers need a DINOv2 encoder to copy; training on the main thread only');
      return lanes;
    }
    let init: GradientWorkerInit;
    try {
      init = { snapshot: snapshotEncoder(encoder) };
    } catch (e) {
      onNote(
        `could not copy the model for gradient workers (${(e as Error).message}); training on the main thread only`,
      );
      return lanes;
    }
    const started = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        const w = new GradientWorker(startWorker(__dirname, BUNDLED_GRADIENT_WORKER_FILE, 'worker.ts', init));
        try {
          const first = await w.ready();
          if (first.type !== 'ready') throw new Error(`unexpected first message ${first.type}`);
          return w;
        } catch (e) {
          await w.close();
          throw e;
        }
      }),
    );
    const failures: string[] = [];
    for (const r of started) {
      if (r.status === 'fulfilled') lanes.workers.push(r.value);
      else failures.push((r.reason as Error).message);
    }
    if (failures.length > 0)
      onNote(
        `${failures.length} of ${count} gradient worker(s) did not start (${failures[0]}); training on ${lanes.size} thread(s)`,
      );
    return lanes;
  }

  /** Lanes in use: the main thread plus the live workers. */
  get size(): number {
    return 1 + this.workers.length;
  }

  /** The workers' wasm heap sizes (each its peak) and live tf bytes. */
  async workerMemory(): Promise<Array<{ wasmHeapBytes: number; tfBytes: number }>> {
    const out: Array<{ wasmHeapBytes: number; tfBytes: number }> = [];
    for (const w of this.workers) {
      const r = await w.request({ type: 'memory' }, 'memory');
      out.push({ wasmHeapBytes: r.wasmHeapBytes, tfBytes: r.tfBytes });
    }
    return out;
  }

  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.close()));
  }

  /** Drop a failed worker; its work falls back to the main thread. */
  private drop(w: GradientWorker, e: unknown): void {
    if (!this.workers.includes(w)) return;
    this.workers = this.workers.filter((x) => x !== w);
    this.onNote(
      `${(e as Error).message}; its chunks run on the main thread${this.workers.length > 0 ? `, ${this.workers.length} worker(s) left` : ''}`,
    );
    void w.close();
  }

  /**
   * The gradient cache over the lanes (see the file comment). Same contract as
   * `cachedGradients`; the encoder must be the one the lanes were started with.
   * The sides may also be loaded chunk by chunk (LoadablePixels): each chunk
   * is then loaded when a lane needs it (the main thread loads its next chunk
   * while it computes one), in each of the two passes.
   */
  async cachedGradients(
    encoder: ImageEncoder,
    batch: LanePairBatch,
    options: GradientOptions,
  ): Promise<BatchGradients<Tensor>> {
    if (encoder !== this.encoder) throw new Error('internal: gradient lanes were started for another encoder');
    if (this.workers.length === 0 && !isLoadable(batch.queries) && !isLoadable(batch.positives))
      return cachedGradients(encoder, batch as PairBatch, options);
    batchSize(batch);
    const workers = [...this.workers];
    const step = new StepChunks(
      { query: batch.queries, positive: batch.positives },
      options.chunkSize,
      workers.length + 1,
    );
    const settings: ChunkSettings = { training: options.training, seed: options.seed, step: options.step };
    const synced = this.syncWeights(workers);

    const embeddings = await this.embedChunks(workers, step, settings, synced);
    let lossResult: ReturnType<typeof lossAndEmbeddingGradients>;
    try {
      const side = (s: PairSide): Tensor2D => {
        const parts = step.chunks.map((c, j) => (c.side === s ? embeddings.get(j)! : null)).filter((t) => t !== null);
        return parts.length === 1 ? tf.clone(parts[0]!) : (tf.concat(parts, 0) as Tensor2D);
      };
      lossResult = lossAndEmbeddingGradients(side('query'), side('positive'), batch, options);
    } finally {
      for (const t of embeddings.values()) t.dispose();
    }
    const { loss, grads: embeddingGrads } = lossResult;
    if (!embeddingGrads) return { loss, grads: new Map() };
    try {
      return { loss, grads: await this.backpropagate(workers, step, settings, embeddingGrads) };
    } finally {
      for (const g of embeddingGrads) g.dispose();
    }
  }

  /**
   * Phase 0: the workers get this step's trainable values. Full fine-tuning
   * sends every weight each step: the last worker takes the buffers instead
   * of a copy (on wasm they are fresh copies of the heap; postMessage has
   * cloned them for the others by then). Each worker's lane awaits its own.
   */
  private syncWeights(workers: GradientWorker[]): Array<Promise<unknown>> {
    if (workers.length === 0) return [];
    const values = trainableValues(this.encoder as Dinov2ImageEncoder);
    const handOver = tf.getBackend() === 'wasm' ? [...values.values()].map((v) => v.buffer as ArrayBuffer) : [];
    const synced = workers.map((w, i) =>
      w.request({ type: 'sync', values }, 'synced', i === workers.length - 1 ? handOver : []),
    );
    synced.forEach((p) => p.catch(() => undefined)); // awaited by the worker's lane, before its first chunk
    return synced;
  }

  /** Phase 1: every chunk's embedding, without a tape, lane by lane. */
  private async embedChunks(
    workers: GradientWorker[],
    step: StepChunks,
    settings: ChunkSettings,
    synced: Array<Promise<unknown>>,
  ): Promise<Map<number, Tensor2D>> {
    const dim = this.encoder.embeddingDim;
    const embeddings = new Map<number, Tensor2D>();
    const pass = step.pass();
    try {
      await this.runLanes(workers, step.lanes, {
        prefetch: (j) => pass.prefetch(j),
        here: async (j) => {
          const c = step.ownSource(await pass.take(j), j);
          embeddings.set(
            j,
            tf.tidy(() => embedChunk(this.encoder, c.source, c.side, c.range, settings)),
          );
        },
        inWorker: async (w, mine, i, halted) => {
          await synced[i];
          const got: Array<[number, Float32Array]> = [];
          await windowed(
            mine,
            async (j) => {
              pass.loadAhead(mine, j, WINDOW);
              const job = step.embedJob(await pass.take(j), j);
              const r = await w.request({ type: 'embed', settings, job }, 'embedded');
              got.push([j, r.embedding]);
            },
            halted,
          );
          return () =>
            got.forEach(([j, data]) => embeddings.set(j, tf.tensor2d(data, [step.chunks[j]!.range.count, dim])));
        },
      });
    } catch (e) {
      for (const t of embeddings.values()) t.dispose();
      throw e;
    }
    return embeddings;
  }

  /**
   * Phase 3: every chunk back-propagated with its slice of dLoss/dEmbeddings,
   * lane by lane; the workers' sums are added in lane order.
   */
  private async backpropagate(
    workers: GradientWorker[],
    step: StepChunks,
    settings: ChunkSettings,
    embeddingGrads: readonly [Tensor2D, Tensor2D],
  ): Promise<Map<string, Tensor>> {
    const encoder = this.encoder;
    const dim = encoder.embeddingDim;
    const vars = trainableList(encoder);
    const shapes = new Map(vars.map(([name, v]) => [name, v.shape] as const));
    const upstreamHost =
      workers.length > 0
        ? [embeddingGrads[0].dataSync() as Float32Array, embeddingGrads[1].dataSync() as Float32Array]
        : [];
    const total = new Map<string, Tensor>();
    const pass = step.pass();
    try {
      await this.runLanes(workers, step.lanes, {
        prefetch: (j) => pass.prefetch(j),
        here: async (j) => {
          const c = step.ownSource(await pass.take(j), j);
          const range = step.chunks[j]!.range;
          const upstream = tf.slice(embeddingGrads[c.side === 'query' ? 0 : 1], [range.start, 0], [range.count, dim]);
          try {
            accumulateGradients(
              total,
              chunkParameterGradients(encoder, vars, c.source, c.side, c.range, upstream, settings),
            );
          } finally {
            upstream.dispose();
          }
        },
        inWorker: async (w, mine, _i, halted) => {
          await windowed(
            mine,
            async (j) => {
              pass.loadAhead(mine, j, WINDOW);
              const c = step.chunks[j]!;
              const upstream = upstreamHost[c.side === 'query' ? 0 : 1]!.slice(
                c.range.start * dim,
                (c.range.start + c.range.count) * dim,
              );
              const job = step.embedJob(await pass.take(j), j);
              await w.request({ type: 'backward', settings, job: { ...job, upstream } }, 'accumulated');
            },
            halted,
          );
          const { grads } = await w.request({ type: 'collect' }, 'gradients');
          return () =>
            accumulateGradients(
              total,
              new Map([...grads].map(([name, data]) => [name, tf.tensor(data, shapes.get(name)!, 'float32')] as const)),
            );
        },
      });
    } catch (e) {
      for (const g of total.values()) g.dispose();
      throw e;
    }
    return total;
  }

  /**
   * One phase of a step over every lane: this thread computes lane 0's chunks
   * (`here`, with the next one's pixels loading meanwhile), yielding between
   * them so that the workers' replies come in and their next requests go out;
   * each worker gets its lane's chunks through `inWorker`, whose result is
   * applied once all are in, in lane order. A worker that fails is dropped,
   * and its whole lane is computed here. Anything else that fails (a chunk
   * that cannot be loaded, an error on this thread) stops every lane and,
   * once they have settled, fails the phase.
   */
  private async runLanes(
    workers: GradientWorker[],
    laneChunks: number[][],
    lane: {
      prefetch: (j: number) => void;
      here: (j: number) => Promise<void>;
      inWorker: (w: GradientWorker, chunks: number[], index: number, halted: () => boolean) => Promise<() => void>;
    },
  ): Promise<void> {
    let failure: { error: unknown } | undefined;
    const halted = (): boolean => failure !== undefined;
    const fail = (e: unknown): void => {
      failure ??= { error: e instanceof ChunkLoadError ? e.original : e };
    };
    const running = workers.map((w, i) => lane.inWorker(w, laneChunks[i + 1]!, i, halted));
    running.forEach((r) => r.catch(() => undefined)); // awaited below, in lane order
    const hereAll = async (mine: number[]): Promise<void> => {
      try {
        for (let k = 0; k < mine.length && !halted(); k++) {
          if (k + 1 < mine.length) lane.prefetch(mine[k + 1]!);
          await lane.here(mine[k]!);
          await yieldToEvents();
        }
      } catch (e) {
        fail(e);
      }
    };
    await hereAll(laneChunks[0]!);
    for (let i = 0; i < workers.length; i++) {
      let apply: () => void;
      try {
        apply = await running[i]!;
      } catch (e) {
        if (halted()) continue;
        if (e instanceof ChunkLoadError) {
          // Not the worker's fault: computing its lane here would fail the same way.
          fail(e);
          continue;
        }
        this.drop(workers[i]!, e);
        await hereAll(laneChunks[i + 1]!);
        continue;
      }
      if (!halted()) apply();
    }
    if (failure) throw failure.error;
  }
}

/**
 * Run `send` for every item with at most WINDOW calls outstanding, until
 * `halted()`. On a failure it sends nothing more, waits for the calls in
 * flight (so that no reply is left for a later request to mistake for its
 * own) and rejects with the first failure.
 */
async function windowed(
  items: readonly number[],
  send: (item: number) => Promise<unknown>,
  halted: () => boolean,
): Promise<void> {
  const inFlight: Array<Promise<unknown>> = [];
  let next = 0;
  try {
    for (let k = 0; k < items.length && !halted(); k++) {
      while (next < items.length && next < k + WINDOW && !halted()) {
        const p = send(items[next++]!);
        p.catch(() => undefined); // awaited in turn below
        inFlight.push(p);
      }
      await inFlight.shift();
    }
  } catch (e) {
    await Promise.allSettled(inFlight);
    throw e;
  }
  if (halted()) await Promise.allSettled(inFlight);
}
