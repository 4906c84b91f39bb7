/**
 * ONNX Runtime (onnxruntime-node), loaded only when asked for: the engine
 * keeps working where the package or its native library is missing, and
 * only the commands that run ONNX graphs pay for loading it.
 */
import * as path from 'node:path';

export type OrtModule = typeof import('onnxruntime-node');
export type OnnxDevice = 'cpu' | 'webgpu' | 'cuda' | 'dml';
export const ONNX_DEVICES: readonly OnnxDevice[] = ['cpu', 'webgpu', 'cuda', 'dml'];

let loaded: { ort: OrtModule; location: string } | { error: string } | undefined;

/**
 * Where to look besides normal resolution: `VEMBED_BACKEND_PATH` (folders
 * holding a `node_modules`, where *Install GPU Backend* puts the CUDA build).
 */
function searchRoots(): string[] {
  const extra = (process.env.VEMBED_BACKEND_PATH ?? '').split(path.delimiter).filter(Boolean);
  return [...extra, process.cwd(), __dirname];
}

/** The onnxruntime-node module, or why it does not load (first line of the error). */
export function loadOnnxRuntime(): { ort: OrtModule; location: string } | { error: string } {
  if (loaded) return loaded;
  try {
    const location = require.resolve('onnxruntime-node', { paths: searchRoots() });
    // Loaded at run time, from wherever it is installed: the engine must start where it is missing.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = { ort: require(location) as OrtModule, location };
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
    loaded = {
      error: msg.includes('Cannot find module')
        ? 'onnxruntime-node is not installed (npm install onnxruntime-node)'
        : msg,
    };
  }
  return loaded;
}

export function requireOnnxRuntime(): OrtModule {
  const r = loadOnnxRuntime();
  if ('error' in r) throw new Error(`ONNX Runtime is not available: ${r.error}`);
  return r.ort;
}

/** onnxruntime-node's version, e.g. "1.30.0". */
export function onnxRuntimeVersion(ort: OrtModule): string {
  return ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
}

/** The execution-provider name ONNX Runtime uses for a device. */
function providerName(device: OnnxDevice): string {
  return device;
}

/** "ONNX Runtime 1.30 CPU (2 threads)": what run logs print as the device. */
export function onnxDeviceLine(ort: OrtModule, device: OnnxDevice, threads: number): string {
  const v = onnxRuntimeVersion(ort).split('.').slice(0, 2).join('.');
  const name = { cpu: 'CPU', webgpu: 'WebGPU', cuda: 'CUDA', dml: 'DirectML' }[device];
  return `ONNX Runtime ${v} ${name}${device === 'cpu' ? ` (${threads} thread${threads === 1 ? '' : 's'})` : ''}`;
}

/**
 * Tensors handed to and taken from ONNX Runtime by every session of this
 * process: on a GPU provider each one is a copy between host and device
 * (the placement report counts a training step's with it).
 */
export const onnxTransfers = { runs: 0, tensorsIn: 0, tensorsOut: 0, bytesIn: 0, bytesOut: 0 };

export interface OnnxSession {
  /** The graph's input names. */
  readonly inputNames: readonly string[];
  run(
    feeds: Record<string, { data: Float32Array; dims: readonly number[] }>,
    output: string,
  ): Promise<{ data: Float32Array; dims: readonly number[] }>;
  /** Several outputs of one run, by name. */
  runMany(
    feeds: Record<string, { data: Float32Array; dims: readonly number[] }>,
    outputs: readonly string[],
  ): Promise<Map<string, { data: Float32Array; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/**
 * A session on a serialized model. `threads`: intra-op threads (ONNX
 * Runtime's own pool; the engine's `--threads`). Falls back to no other
 * provider: a device asked for and missing is an error, not a silent CPU run.
 */
export async function createOnnxSession(
  model: Uint8Array,
  options: {
    device: OnnxDevice;
    threads: number;
    /**
     * Whether idle intra-op threads spin waiting for the next op (ONNX Runtime's default) or sleep.
     * Sleeping suits many small ops on shared cores: a spinning thread burns the time slices the
     * working one needs (see OnnxGradients).
     */
    spinning?: boolean;
  },
): Promise<OnnxSession> {
  const ort = requireOnnxRuntime();
  // A provider that fails to load (CUDA without its libraries) makes ONNX Runtime's logger print its own lines, in
  // terminal colours, before vembed's message says the same in words; they stay for VEMBED_DEBUG. The level is read
  // when ONNX Runtime's environment starts (the first session), which here is this provider's.
  if (options.device !== 'cpu' && !process.env.VEMBED_DEBUG) ort.env.logLevel = 'fatal';
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [providerName(options.device)],
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // Errors only: on a GPU provider ONNX Runtime warns at every session that "some nodes were not assigned",
    // meaning the few int64 shape ops it keeps on the CPU by design; `vembed doctor --placement` says which.
    logSeverityLevel: 3,
    ...(options.spinning === false
      ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }
      : {}),
  });
  const runMany: OnnxSession['runMany'] = async (feeds, outputs) => {
    const inputs: Record<string, InstanceType<OrtModule['Tensor']>> = {};
    for (const [name, f] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', f.data, f.dims);
    const result = await session.run(inputs, [...outputs]);
    const out = new Map<string, { data: Float32Array; dims: readonly number[] }>();
    for (const name of outputs) {
      const t = result[name];
      if (!t) throw new Error(`internal: the ONNX model has no output ${name}`);
      out.set(name, { data: t.data as Float32Array, dims: t.dims });
    }
    onnxTransfers.runs++;
    for (const f of Object.values(feeds)) {
      onnxTransfers.tensorsIn++;
      onnxTransfers.bytesIn += f.data.byteLength;
    }
    for (const o of out.values()) {
      onnxTransfers.tensorsOut++;
      onnxTransfers.bytesOut += o.data.byteLength;
    }
    return out;
  };
  return {
    inputNames: session.inputNames,
    async run(feeds, output) {
      return (await runMany(feeds, [output])).get(output)!;
    },
    runMany,
    release: () => session.release(),
  };
}
