/**
 * The one rule for how many threads any pool of the engine starts: ranking
 * workers, image decoding workers, ONNX Runtime's intra-op threads and the
 * WebAssembly backend's model copies. A count from the user (`--threads`,
 * VEMBED_THREADS, num_workers) is capped at two threads per core: beyond that
 * threads only wait for a core while each costs memory (`--threads 999`
 * started ~1,040 ranking threads, load average ~110, and never finished).
 * Pools that hold a copy of the model per thread (wasm) also stop at
 * MAX_MODEL_COPIES. Every pool asks `poolThreads`; the CLI warns once with
 * `threadCapNote` when a count was lowered.
 */
import * as os from 'node:os';

export type ThreadPool = 'ranking' | 'decoding' | 'onnx' | 'wasm';

/** Threads per core any pool may start. */
export const THREADS_PER_CORE = 2;

/** More copies of the model than this cost memory and gain nothing measurable. */
export const MAX_MODEL_COPIES = 8;

const POOL_WORDS: Readonly<Record<ThreadPool, string>> = {
  ranking: 'ranking',
  decoding: 'decoding',
  onnx: 'ONNX Runtime',
  wasm: 'WebAssembly',
};

/** The most threads `pool` starts on a machine with `cores` cores. */
export function poolThreadLimit(pool: ThreadPool, cores: number = os.availableParallelism()): number {
  const perCore = Math.max(1, THREADS_PER_CORE * cores);
  return pool === 'wasm' ? Math.min(perCore, MAX_MODEL_COPIES) : perCore;
}

/** `requested` threads for `pool`, capped by the rule (0 stays 0: no pool). */
export function poolThreads(pool: ThreadPool, requested: number, cores: number = os.availableParallelism()): number {
  return Math.max(0, Math.min(requested, poolThreadLimit(pool, cores)));
}

/**
 * What to tell the user when `label requested` (e.g. `--threads 999`) is
 * lowered for any of `pools`; undefined when nothing is.
 */
export function threadCapNote(
  label: string,
  requested: number,
  pools: readonly ThreadPool[],
  cores: number = os.availableParallelism(),
): string | undefined {
  const lowered = pools.filter((p) => poolThreads(p, requested, cores) < requested);
  if (lowered.length === 0) return undefined;
  const parts = lowered.map((p) => `${poolThreads(p, requested, cores)} ${POOL_WORDS[p]}`);
  const copiesBound = lowered.includes('wasm') && MAX_MODEL_COPIES < THREADS_PER_CORE * cores;
  const copies = copiesBound ? ` (WebAssembly: at most ${MAX_MODEL_COPIES} copies of the model)` : '';
  return `${label} ${requested}: starting ${parts.join(' / ')} threads: at most ${THREADS_PER_CORE} per core on this machine (${cores} core${cores === 1 ? '' : 's'})${copies}; more would only wait for a core and add memory.`;
}
