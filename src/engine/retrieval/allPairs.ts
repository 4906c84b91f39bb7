/**
 * Every image against all the others: the ranks of each query's class
 * members and its k nearest neighbours, exactly, in bounded memory.
 *
 * The work is cut into block pairs (blockPlan.ts) computed by one engine per
 * thread (allPairsEngine.ts). On the wasm backend, which is single-threaded,
 * `threads: 'auto'` runs one worker thread per core, each with its own wasm
 * instance; on other backends (native TensorFlow uses every core itself) or
 * when the worker cannot start, everything runs in this thread. Results do
 * not depend on the thread count, the block size or the input order of
 * equal-class images: every similarity is computed once and ties follow the
 * ranking rule of topk.ts.
 *
 * Memory: the embeddings twice (rows, and transposed blocks), one block of
 * blockSize^2 similarities per thread, 2k neighbours per image per thread,
 * and one slot per same-class pair.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/startWorker';
import { tf } from '../backend/tf';
import { computeThreadRequest, computeThreads, type ThreadRequest } from '../backend/threads';
import { poolThreads } from '../util/threadCap';
import { AllPairsEngine, type ClassPairs, type EngineInputs, type EngineState } from './allPairsEngine';
import type { WorkerReply, WorkerRequest } from './allPairsProtocol';
import { planBlocks, type BlockPlan, type BlockTask } from './blockPlan';
import { checkEmbeddings, l2NormalizeRows, type EmbeddingMatrix } from './embeddings';
import { sortBest, TopKTable, type TopKResult } from './topk';

/** The worker's file next to the engine bundle (the build bundles allPairsWorker.ts under this name). */
export const BUNDLED_SEARCH_WORKER_FILE = 'search-worker.js';

export const DEFAULT_BLOCK_SIZE = 2048;
const MIN_IMAGES_FOR_WORKERS = 8192;

/** Thrown when the caller's AbortSignal fires; the search stops between blocks. */
export class SearchAborted extends Error {
  constructor() {
    super('search aborted');
    this.name = 'SearchAborted';
  }
}

export interface AllPairsOptions {
  /** Nearest neighbours kept per image (any class), for display. */
  k: number;
  /** The best class member's rank is counted up to this (>= the largest Recall@K wanted). */
  rankCap: number;
  /** Images per block; a block pair's similarities (blockSize^2 floats) are what one thread holds at once. */
  blockSize?: number;
  /**
   * Worker threads; 'auto': one per core on the wasm backend, else 1. Default: the process-wide choice
   * (backend/threads.ts).
   */
  threads?: ThreadRequest;
  signal?: AbortSignal;
  /** Similarities computed so far, out of `total` (n * (n - 1) / 2 plus recomputed blocks). */
  onProgress?: (done: number, total: number) => void;
}

export interface AllPairsResult {
  n: number;
  /** Each image's k nearest other images (original indices), best first. */
  neighbours: TopKResult;
  /**
   * Image q's class members are ranked `memberRanks[memberOffset[q] .. memberOffset[q + 1])`,
   * best first: 1-based ranks in q's gallery (all images but q). 0 marks a rank
   * beyond its cap: `max(rankCap, R)` for the best member, R (the number of
   * members) for the others.
   */
  memberOffset: Int32Array;
  memberRanks: Int32Array;
  rankCap: number;
  threads: number;
  /** Why fewer threads ran than were asked for, if so. */
  threadNote?: string;
  /** Largest tf memory seen in any thread (bytes). */
  peakTfBytes: number;
}

interface Executor {
  run(task: BlockTask): Promise<ClassPairs | undefined>;
  setMembers(score: Float32Array, id: Int32Array): Promise<void>;
  finish(): Promise<EngineState>;
  close(): Promise<void>;
}

class InProcessExecutor implements Executor {
  private readonly engine: AllPairsEngine;
  constructor(inputs: EngineInputs) {
    this.engine = new AllPairsEngine(inputs);
  }
  async run(task: BlockTask): Promise<ClassPairs | undefined> {
    // Let progress events and abort signals through between blocks.
    await new Promise((resolve) => setImmediate(resolve));
    return this.engine.run(task.i, task.j, task.mode);
  }
  async setMembers(score: Float32Array, id: Int32Array): Promise<void> {
    this.engine.setMembers(score, id);
  }
  async finish(): Promise<EngineState> {
    return this.engine.finish();
  }
  async close(): Promise<void> {}
}

class WorkerExecutor implements Executor {
  private pending?: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };
  private exited?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: WorkerReply) => {
      const p = this.pending;
      this.pending = undefined;
      if (!p) return;
      if (m.type === 'error') p.reject(new Error(`search worker: ${m.message}`));
      else p.resolve(m);
    });
    const fail = (e: Error) => {
      this.exited = e;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(e);
    };
    worker.on('error', (e) => fail(new Error(`search worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`search worker exited (code ${code})`)));
  }

  static async start(inputs: EngineInputs): Promise<WorkerExecutor> {
    const ex = new WorkerExecutor(spawnSearchWorker(inputs));
    const first = await ex.next();
    if (first.type !== 'ready') throw new Error(`search worker: unexpected first message ${first.type}`);
    return ex;
  }

  private next(): Promise<WorkerReply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }

  private request(message: WorkerRequest): Promise<WorkerReply> {
    const reply = this.next();
    this.worker.postMessage(message);
    return reply;
  }

  async run(task: BlockTask): Promise<ClassPairs | undefined> {
    const r = await this.request({ type: 'task', task });
    if (r.type !== 'done') throw new Error(`search worker: expected a block result, got ${r.type}`);
    return r.pairs;
  }

  async setMembers(score: Float32Array, id: Int32Array): Promise<void> {
    const r = await this.request({ type: 'members', score, id });
    if (r.type !== 'members-set') throw new Error(`search worker: expected members-set, got ${r.type}`);
  }

  async finish(): Promise<EngineState> {
    const r = await this.request({ type: 'finish' });
    if (r.type !== 'state') throw new Error(`search worker: expected its state, got ${r.type}`);
    return r.state;
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.worker.removeAllListeners('error');
    this.worker.on('error', () => {});
    await this.worker.terminate();
  }
}

/** Start the worker: the bundled file if present, else the TypeScript source through tsx (tests, scripts). */
function spawnSearchWorker(inputs: EngineInputs): Worker {
  return startWorker(__dirname, BUNDLED_SEARCH_WORKER_FILE, 'allPairsWorker.ts', { inputs });
}

function resolveThreads(requested: ThreadRequest | undefined, n: number, blockSize: number): number {
  const request = requested ?? computeThreadRequest();
  if (request === 'auto') {
    // Workers only pay off on the single-threaded wasm backend, and only when the work dwarfs their start-up (~1 s).
    if (tf.getBackend() !== 'wasm' || n < Math.max(MIN_IMAGES_FOR_WORKERS, 4 * blockSize)) return 1;
    return computeThreads('auto');
  }
  if (!Number.isInteger(request) || request < 1)
    throw new Error(`threads must be a positive integer or 'auto', got ${request}`);
  return Math.max(1, poolThreads('ranking', request));
}

function float32(length: number, shared: boolean): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float32Array(length);
}

function int32(source: Int32Array, shared: boolean): Int32Array {
  if (!shared) return source;
  const out = new Int32Array(new SharedArrayBuffer(source.length * 4));
  out.set(source);
  return out;
}

/** Normalised embeddings in position order, and the same block by block transposed. */
function layOut(emb: EmbeddingMatrix, plan: BlockPlan, shared: boolean): { rows: Float32Array; colsT: Float32Array } {
  const { n, d } = emb;
  const normalised = l2NormalizeRows(emb).data;
  const rows = float32(n * d, shared);
  for (let p = 0; p < n; p++) rows.set(normalised.subarray(plan.order[p]! * d, (plan.order[p]! + 1) * d), p * d);
  const colsT = float32(n * d, shared);
  for (let b = 0; b + 1 < plan.blockStart.length; b++) {
    const start = plan.blockStart[b]!;
    const size = plan.blockStart[b + 1]! - start;
    const base = start * d;
    for (let r = 0; r < size; r++) {
      const src = (start + r) * d;
      for (let c = 0; c < d; c++) colsT[base + c * size + r] = rows[src + c]!;
    }
  }
  return { rows, colsT };
}

function taskSize(plan: BlockPlan, t: BlockTask): number {
  const rows = plan.blockStart[t.i + 1]! - plan.blockStart[t.i]!;
  const cols = plan.blockStart[t.j + 1]! - plan.blockStart[t.j]!;
  return t.i === t.j ? (rows * (rows - 1)) / 2 : rows * cols;
}

export async function rankAllAgainstAll(
  emb: EmbeddingMatrix,
  labels: ArrayLike<number>,
  options: AllPairsOptions,
): Promise<AllPairsResult> {
  checkEmbeddings(emb);
  if (labels.length !== emb.n)
    throw new Error(`${labels.length} labels for ${emb.n} embeddings; there must be one class id per image`);
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(options.rankCap) || options.rankCap < 1)
    throw new Error(`rankCap must be a positive integer, got ${options.rankCap}`);
  const n = emb.n;
  const k = Math.max(1, Math.min(options.k, n - 1));
  const plan = planBlocks(labels, blockSize);
  let threads = resolveThreads(options.threads, n, blockSize);
  let threadNote: string | undefined;
  const shared = threads > 1;
  const { rows, colsT } = layOut(emb, plan, shared);
  const inputs: EngineInputs = {
    n,
    d: emb.d,
    k,
    rankCap: options.rankCap,
    rows,
    colsT,
    order: int32(plan.order, shared),
    classOf: int32(plan.classOf, shared),
    classStart: int32(plan.classStart, shared),
    blockStart: int32(plan.blockStart, shared),
    memberOffset: int32(plan.memberOffset, shared),
  };

  let executors: Executor[] = [];
  if (threads > 1) {
    const started = await Promise.allSettled(Array.from({ length: threads }, () => WorkerExecutor.start(inputs)));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    executors = started
      .filter((s): s is PromiseFulfilledResult<WorkerExecutor> => s.status === 'fulfilled')
      .map((s) => s.value);
    if (failure) {
      await Promise.all(executors.map((e) => e.close()));
      executors = [];
      threadNote = `worker threads unavailable (${(failure.reason as Error).message}); ran in one thread`;
      threads = 1;
    }
  }
  if (executors.length === 0) executors = [new InProcessExecutor(inputs)];

  try {
    const total = [...plan.pass1, ...plan.pass2].reduce((s, t) => s + taskSize(plan, t), 0);
    let done = 0;
    const runAll = async (tasks: BlockTask[], onResult: (r: ClassPairs | undefined) => void) => {
      let next = 0;
      let failed = false;
      await Promise.all(
        executors.map(async (ex) => {
          while (!failed && next < tasks.length) {
            if (options.signal?.aborted) {
              failed = true;
              throw new SearchAborted();
            }
            const task = tasks[next++]!;
            try {
              onResult(await ex.run(task));
            } catch (e) {
              failed = true;
              throw e;
            }
            done += taskSize(plan, task);
            options.onProgress?.(done, total);
          }
        }),
      );
    };

    const found: ClassPairs[] = [];
    await runAll(plan.pass1, (r) => {
      if (r) found.push(r);
    });
    const members = assembleMembers(plan, found, shared);
    await Promise.all(executors.map((ex) => ex.setMembers(members.score, members.id)));
    await runAll(plan.pass2, () => {});
    const states = await Promise.all(executors.map((ex) => ex.finish()));
    return collect(plan, inputs, states, threads, threadNote);
  } finally {
    await Promise.all(executors.map((ex) => ex.close()));
  }
}

/** Every query's class-member similarities from the pass-1 blocks, sorted by the ranking rule. */
function assembleMembers(
  plan: BlockPlan,
  found: ClassPairs[],
  shared: boolean,
): { score: Float32Array; id: Int32Array } {
  const total = plan.memberOffset[plan.n]!;
  const score = float32(total, shared);
  const id = shared ? new Int32Array(new SharedArrayBuffer(total * 4)) : new Int32Array(total);
  const fill = new Int32Array(plan.n);
  const put = (q: number, s: number, other: number) => {
    const at = plan.memberOffset[q]! + fill[q]!++;
    score[at] = s;
    id[at] = plan.order[other]!;
  };
  for (const pairs of found) {
    for (let x = 0; x < pairs.a.length; x++) {
      put(pairs.a[x]!, pairs.score[x]!, pairs.b[x]!);
      put(pairs.b[x]!, pairs.score[x]!, pairs.a[x]!);
    }
  }
  for (let q = 0; q < plan.n; q++) {
    const lo = plan.memberOffset[q]!;
    const hi = plan.memberOffset[q + 1]!;
    if (fill[q] !== hi - lo)
      throw new Error(`internal: image ${plan.order[q]} got ${fill[q]} class similarities, expected ${hi - lo}`);
    if (hi - lo > 1) sortBest(score, id, lo, hi);
  }
  return { score, id };
}

/** Sum the threads' counts and neighbours, and lay the results out in original image order. */
function collect(
  plan: BlockPlan,
  inputs: EngineInputs,
  states: EngineState[],
  threads: number,
  threadNote: string | undefined,
): AllPairsResult {
  const { n, k, rankCap } = inputs;
  const beatenBy = new Int32Array(plan.memberOffset[n]!);
  for (const s of states) for (let x = 0; x < beatenBy.length; x++) beatenBy[x]! += s.beatenBy[x]!;
  const table = new TopKTable(n, k, states[0]!.neighbours);
  for (const s of states.slice(1)) table.merge(new TopKTable(n, k, s.neighbours));
  const byPosition = table.result();

  const memberOffset = new Int32Array(n + 1);
  for (let p = 0; p < n; p++) memberOffset[plan.order[p]! + 1] = plan.memberOffset[p + 1]! - plan.memberOffset[p]!;
  for (let q = 0; q < n; q++) memberOffset[q + 1]! += memberOffset[q]!;
  const memberRanks = new Int32Array(memberOffset[n]!);
  const indices = new Int32Array(n * k);
  const scores = new Float32Array(n * k);
  const counts = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const q = plan.order[p]!;
    const from = plan.memberOffset[p]!;
    const members = plan.memberOffset[p + 1]! - from;
    const to = memberOffset[q]!;
    for (let j = 0; j < members; j++) {
      const rank = 1 + j + beatenBy[from + j]!;
      const cap = j === 0 ? Math.max(rankCap, members) : members;
      memberRanks[to + j] = rank <= cap ? rank : 0;
    }
    indices.set(byPosition.indices.subarray(p * k, (p + 1) * k), q * k);
    scores.set(byPosition.scores.subarray(p * k, (p + 1) * k), q * k);
    counts[q] = byPosition.counts[p]!;
  }
  return {
    n,
    neighbours: { k, indices, scores, counts },
    memberOffset,
    memberRanks,
    rankCap,
    threads,
    ...(threadNote ? { threadNote } : {}),
    peakTfBytes: Math.max(0, ...states.map((s) => s.peakTfBytes)),
  };
}
