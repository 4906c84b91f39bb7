/**
 * Whether inference runs on ONNX Runtime, and with which provider: from
 * `--backend` / `VEMBED_BACKEND` (`onnx` = `onnx-cpu`, `onnx-webgpu`,
 * `onnx-cuda`, `onnx-dml`), or `auto`, which takes ONNX Runtime's CPU
 * provider wherever onnxruntime-node loads, unless TF.js runs on CUDA.
 * Training computes its gradients on the same choice (onnx/trainBackend.ts).
 *
 * `auto` never takes WebGPU, so never a software adapter (SwiftShader,
 * llvmpipe: the shaders on the CPU, slower than the CPU provider); asked
 * for by name on one, WebGPU runs with a warning that it is for testing.
 * The device line names the adapter (adapter.ts).
 */
import { ONNX_BACKENDS, type BackendName, type OnnxBackendName } from '../../shared/protocol';
import { describeAdapter, type WebGpuAdapter } from './adapter';
import { probeWebGpu } from './probe';
import { loadOnnxRuntime, onnxDeviceLine, type OnnxDevice } from './runtime';

export interface OnnxChoice {
  name: OnnxBackendName;
  device: OnnxDevice;
  threads: number;
  /** "ONNX Runtime 1.30 CPU (2 threads)". */
  line: string;
  /** Asked for by name (an error if it cannot run the model), not taken by `auto` (which falls back to TF.js). */
  explicit: boolean;
  /** WebGPU: the adapter it gets. */
  adapter?: WebGpuAdapter;
  /** Said once when the run starts (a software adapter). */
  warning?: string;
}

/** What each kind of work runs on: the summary `vembed doctor` prints, and what the commands' device lines say. */
export interface WorkPlan {
  /** Training's gradients (DINOv2 models; other models train on TF.js). */
  training: string;
  /** Embedding, evaluation and search. */
  inference: string;
}

export function workPlan(tfBackend: BackendName, onnx: OnnxChoice | null): WorkPlan {
  return { training: onnx?.name ?? tfBackend, inference: onnx?.name ?? tfBackend };
}

/** The ONNX Runtime device a --backend value names, or undefined when it names none. */
export function parseOnnxBackend(raw: string | undefined): OnnxDevice | undefined {
  if (raw === 'onnx') return 'cpu';
  return (ONNX_BACKENDS as readonly string[]).includes(raw ?? '')
    ? (raw!.slice('onnx-'.length) as OnnxDevice)
    : undefined;
}

/**
 * The ONNX Runtime choice for a run, or null for TF.js. An explicit ONNX
 * backend that does not load is an error (no silent fallback).
 */
export function chooseOnnx(raw: string | undefined, tfBackend: BackendName, threads: number): OnnxChoice | null {
  const asked = parseOnnxBackend(raw);
  const auto = raw === undefined || raw === '' || raw === 'auto';
  if (!asked && !auto) return null;
  if (!asked && tfBackend === 'tfjs-node-gpu') return null;
  const loaded = loadOnnxRuntime();
  if ('error' in loaded) {
    if (asked)
      throw new Error(`--backend ${raw}: ONNX Runtime does not load here: ${loaded.error}. Run \`vembed doctor\`.`);
    return null;
  }
  const device = asked ?? 'cpu';
  const line = onnxDeviceLine(loaded.ort, device, threads);
  const choice: OnnxChoice = { name: `onnx-${device}`, device, threads, line, explicit: asked !== undefined };
  if (device !== 'webgpu') return choice;
  // A provider that does not run is reported when the first session is made (with ONNX Runtime's reason).
  const adapter = probeWebGpu()?.adapter;
  return {
    ...choice,
    adapter,
    line: `${line} (${describeAdapter(adapter)})`,
    ...(adapter?.software
      ? {
          warning: `--backend ${raw}: WebGPU got a software adapter (${adapter.name}): the shaders run on the CPU, far slower than --backend onnx-cpu. It is there for testing the WebGPU path; for real work use onnx-cpu, or a machine with a GPU.`,
        }
      : {}),
  };
}
