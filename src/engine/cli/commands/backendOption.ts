/** The `--backend` and `--threads` options of every command that computes, and the backend's activation. */
import { activateBackend, parseBackendPreference, type ActiveBackend } from '../../backend/ladder';
import { computeThreads, onnxThreads, parseThreadRequest, setComputeThreads } from '../../backend/threads';
import { threadCapNote } from '../../util/threadCap';
import { UsageError, type OptionSpec } from '../args';
import type { Reporter } from '../../report/reporter';
import { chooseOnnx, parseOnnxBackend, type OnnxChoice } from '../../onnx/backendChoice';

export const BACKEND_OPTION: OptionSpec = {
  name: 'backend',
  type: 'string',
  metavar: 'NAME',
  description:
    'Compute backend: auto (best available), onnx (= onnx-cpu), onnx-webgpu, onnx-cuda, onnx-dml (ONNX Runtime, for embedding, evaluation, search and training), tfjs-node-gpu, tfjs-node, wasm or cpu. auto takes ONNX Runtime where it loads. Also VEMBED_BACKEND.',
};

export const THREADS_OPTION: OptionSpec = {
  name: 'threads',
  type: 'string',
  metavar: 'auto|N',
  description:
    'Threads that compute on the WebAssembly backend, each with its own copy of the model: auto (one per core) or a number. Native TensorFlow uses every core itself. Also VEMBED_THREADS.',
};

/** Both options, in the order help lists them. */
export const COMPUTE_OPTIONS: readonly OptionSpec[] = [BACKEND_OPTION, THREADS_OPTION];

/**
 * Activate the backend asked for (flag, then VEMBED_BACKEND, then auto), set
 * the thread count (flag, then VEMBED_THREADS, then auto) and say which runs.
 */
export async function backendFromOptions(
  options: { backend?: unknown; threads?: unknown },
  reporter: Reporter,
): Promise<CommandBackend> {
  const threadsFlag = typeof options.threads === 'string';
  const rawThreads = threadsFlag ? (options.threads as string) : process.env.VEMBED_THREADS;
  const threadsLabel = threadsFlag ? '--threads' : 'VEMBED_THREADS';
  const request = parseThreadRequest(rawThreads);
  if (request === null)
    throw new UsageError(
      `${threadsFlag ? `--threads ${rawThreads}` : `VEMBED_THREADS=${rawThreads}`}: expected auto or a whole number >= 1.`,
    );
  setComputeThreads(request);
  if (request !== 'auto') {
    const note = threadCapNote(threadsLabel, request, ['ranking', 'onnx', 'wasm']);
    if (note) reporter.warn(note, 'threads-capped');
  }
  const backendFlag = typeof options.backend === 'string';
  const raw = backendFlag ? (options.backend as string) : process.env.VEMBED_BACKEND;
  // With ONNX Runtime for inference, TF.js still reads the weights (and trains): the best one that loads.
  const pref = parseOnnxBackend(raw) ? 'auto' : parseBackendPreference(raw);
  if (!pref)
    throw new UsageError(
      `${backendFlag ? `--backend ${raw}` : `VEMBED_BACKEND=${raw}`}: expected auto, onnx, onnx-cpu, onnx-webgpu, onnx-cuda, onnx-dml, tfjs-node-gpu, tfjs-node, wasm or cpu.`,
    );
  const backend = await activateBackend(pref);
  for (const s of backend.skipped)
    if (pref === 'auto' && s.reason && !/not installed/.test(s.reason))
      reporter.warn(`backend ${s.name} skipped: ${s.reason}`, 'backend-skipped');
  let onnx: OnnxChoice | null;
  try {
    onnx = chooseOnnx(raw, backend.name, onnxThreads(request));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (onnx?.warning) reporter.warn(onnx.warning, 'backend-software');
  return { ...backend, device: describeDevice(backend, computeThreads(request)), onnx };
}

/** The TF.js backend, and ONNX Runtime when inference runs on it. */
export type CommandBackend = ActiveBackend & { onnx: OnnxChoice | null };

/**
 * The backend's device, with the threads vembed adds on wasm: "WebAssembly (1 thread, SIMD)" becomes "WebAssembly (2
 * threads, SIMD)".
 */
function describeDevice(backend: ActiveBackend, threads: number): string {
  return backend.name === 'wasm' && threads > 1
    ? backend.device.replace(/\b1 thread\b/, `${threads} threads`)
    : backend.device;
}
