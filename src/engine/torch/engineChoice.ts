/**
 * Which engine trains: the ONNX engine (the TypeScript trainer on ONNX
 * Runtime / TF.js) or the PyTorch engine (python/vembed_torch). One function
 * decides, for `vembed train` and for `vembed doctor`, and says why in words.
 */
import type { TorchEnv, TorchProbe } from './pythonEnv';

export const TRAIN_ENGINES = ['onnx', 'torch'] as const;
export type TrainEngine = (typeof TRAIN_ENGINES)[number];
export const ENGINE_SETTINGS = ['auto', ...TRAIN_ENGINES] as const;
export type EngineSetting = (typeof ENGINE_SETTINGS)[number];

export type EngineChoice =
  | { engine: TrainEngine; reason: string }
  /** `torch` was asked for and cannot run: `reason` says why and what to install. */
  | { engine: null; reason: string };

/** Whether a setting needs the probe's answer (`onnx` does not: no Python is run). */
export function needsTorchProbe(setting: EngineSetting): boolean {
  return setting !== 'onnx';
}

/** The accelerators torch sees, in words: "1 x NVIDIA H200 (CUDA 9.0, bf16)", "Apple GPU (MPS)", or "CPU only". */
export function describeTorchDevices(env: TorchEnv): string {
  const devices = env.torch?.devices ?? [];
  if (devices.length === 0) return 'CPU only';
  const groups = new Map<string, number>();
  for (const d of devices) {
    const kind =
      d.type === 'cuda' ? `CUDA${d.capability ? ` ${d.capability}` : ''}` : d.type === 'rocm' ? 'ROCm' : 'MPS';
    const label = `${d.name} (${kind}${d.bf16 ? ', bf16' : ''})`;
    groups.set(label, (groups.get(label) ?? 0) + 1);
  }
  return [...groups].map(([label, n]) => `${n} x ${label}`).join(', ');
}

function hasAccelerator(env: TorchEnv): boolean {
  return (env.torch?.devices ?? []).length > 0;
}

/**
 * The engine for a setting (`--engine` / the config's `engine` key) and the
 * probe of the Python environment (undefined when it was not run: `onnx`).
 * `auto` takes PyTorch when its environment is complete and sees a CUDA, ROCm
 * or MPS device, and the ONNX engine otherwise (on a CPU the ONNX engine trains
 * as fast as PyTorch: README, Performance). `torch` asked for by name and not
 * runnable is an error, never a silent switch; on a CPU-only torch it runs.
 */
export function chooseTrainEngine(setting: EngineSetting, probe: TorchProbe | undefined): EngineChoice {
  if (setting === 'onnx') return { engine: 'onnx', reason: 'asked for (engine: onnx)' };
  if (!probe) return { engine: setting === 'torch' ? null : 'onnx', reason: 'the Python environment was not probed' };
  if (!probe.ok) {
    return setting === 'torch'
      ? { engine: null, reason: `engine: torch was asked for, but ${probe.error}` }
      : { engine: 'onnx', reason: `no usable Python for the PyTorch engine (${probe.error})` };
  }
  const env = probe.env;
  if (!env.complete) {
    const why = env.message ?? 'the PyTorch environment is incomplete';
    return setting === 'torch'
      ? {
          engine: null,
          reason: `engine: torch was asked for, but ${env.command}: ${why.replace(/^PyTorch engine: /, '')}`,
        }
      : { engine: 'onnx', reason: `the PyTorch environment is incomplete (${why})` };
  }
  const devices = describeTorchDevices(env);
  if (setting === 'torch')
    return {
      engine: 'torch',
      reason: `asked for (engine: torch); PyTorch ${env.torch!.version} sees ${devices}`,
    };
  if (hasAccelerator(env))
    return { engine: 'torch', reason: `auto: PyTorch ${env.torch!.version} is complete and sees ${devices}` };
  return {
    engine: 'onnx',
    reason: `auto: PyTorch ${env.torch!.version} is complete but sees no GPU (CPU only), where the ONNX engine trains as fast; --engine torch forces it`,
  };
}
