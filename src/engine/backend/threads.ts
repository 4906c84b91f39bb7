/**
 * How many threads compute. The wasm backend runs on one thread per
 * instance, so vembed uses more cores by giving worker threads wasm
 * instances of their own (parallel embedding, gradient lanes). Native
 * TensorFlow already uses every core, and extra copies of the model there
 * would only compete for them.
 *
 * The choice is process-wide: `--threads` of the computing commands, else
 * VEMBED_THREADS, else 'auto' (one per core on wasm, one elsewhere).
 */
import * as os from 'node:os';
import { tf } from './tf';
import { MAX_MODEL_COPIES, poolThreads } from '../util/threadCap';

export type ThreadRequest = number | 'auto';

/** More copies of the model than this cost memory and gain nothing measurable (the thread rule's). */
export const MAX_COMPUTE_THREADS = MAX_MODEL_COPIES;

let chosen: ThreadRequest | undefined;

/** 'auto' or a whole number >= 1; null for anything else. */
export function parseThreadRequest(raw: string | undefined): ThreadRequest | null {
  const text = (raw ?? 'auto').trim();
  if (text === '' || text === 'auto') return 'auto';
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 ? n : null;
}

/** Set the process-wide choice (the CLI does, from --threads). */
export function setComputeThreads(request: ThreadRequest): void {
  chosen = request;
}

/** The choice: set by the CLI, else VEMBED_THREADS, else 'auto'. A bad VEMBED_THREADS counts as 'auto'. */
export function computeThreadRequest(): ThreadRequest {
  return chosen ?? parseThreadRequest(process.env.VEMBED_THREADS) ?? 'auto';
}

/**
 * Threads that compute on the active backend for `request`: on wasm, 'auto'
 * is one per core (at most MAX_COMPUTE_THREADS), a number is capped by the
 * thread rule (util/threadCap.ts); off wasm, always 1.
 */
export function computeThreads(request: ThreadRequest = computeThreadRequest()): number {
  if (tf.getBackend() !== 'wasm') return 1;
  if (request !== 'auto') return Math.max(1, poolThreads('wasm', request));
  return Math.max(1, Math.min(os.availableParallelism(), MAX_COMPUTE_THREADS));
}

/**
 * ONNX Runtime's intra-op threads for `request`: 'auto' as computeThreads
 * gives, a number capped by the thread rule.
 */
export function onnxThreads(request: ThreadRequest = computeThreadRequest()): number {
  return request === 'auto' ? computeThreads('auto') : Math.max(1, poolThreads('onnx', request));
}
