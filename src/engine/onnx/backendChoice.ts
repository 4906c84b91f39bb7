/**
 * Whether inference runs on ONNX Runtime, and with which provider: from
 * `--backend` / `VEMBED_BACKEND` (`onnx` = `onnx-cpu`, `onnx-webgpu`,
 * `onnx-cuda`, `onnx-dml`), or `auto`, which takes ONNX Runtime's CPU
 * provider wherever onnxruntime-node loads, unless TF.js runs on CUDA.
 * Training computes its gradients on the same choice (onnx/trainBackend.ts).
 */
import { ONNX_BACKENDS, type BackendName, type OnnxBackendName } from '../../shared/protocol';
import { loadOnnxRuntime, onnxDeviceLine, type OnnxDevice } from './runtime';

export interface OnnxChoice {
  name: OnnxBackendName;
  device: OnnxDevice;
  threads: number;
  /** "ONNX Runtime 1.30 CPU (2 threads)". */
  line: string;
  /** Asked for by name (an error if it cannot run the model), not taken by `auto` (which falls back to TF.js). */
  explicit: boolean;
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
  return {
    name: `onnx-${device}`,
    device,
    threads,
    line: onnxDeviceLine(loaded.ort, device, threads),
    explicit: asked !== undefined,
  };
}
