/**
 * Which engine trains: the ONNX engine (the TypeScript trainer on ONNX
 * Runtime / TF.js) or the PyTorch engine (python/vembed_torch). One function
 * decides, for `vembed train` and for `vembed doctor`, and says why in words.
 */
import { sightGpu, type OsView } from './gpuSighting';
import { probeTorchEnv, type TorchEnv, type TorchProbe } from './pythonEnv';

export const TRAIN_ENGINES = ['onnx', 'torch'] as const;
export type TrainEngine = (typeof TRAIN_ENGINES)[number];
export const ENGINE_SETTINGS = ['auto', ...TRAIN_ENGINES] as const;
export type EngineSetting = (typeof ENGINE_SETTINGS)[number];

export type EngineChoice =
  | { engine: TrainEngine; reason: string }
  /** `torch` was asked for and cannot run: `reason` says why and what to install. */
  | { engine: null; reason: string };

/**
 * Whether a setting needs the probe's answer: `torch` always; `auto` only when the OS shows a GPU (`gpu`, from
 * sightGpu), since without one it is the ONNX engine whatever Python holds; `onnx` never.
 */
export function needsTorchProbe(setting: EngineSetting, gpu: string | null): boolean {
  return setting === 'torch' || (setting === 'auto' && gpu !== null);
}

/** Under `auto` on a machine whose OS shows no GPU: the ONNX engine, without running Python. */
export const NO_GPU_REASON =
  'auto: no CUDA/ROCm/MPS device (the OS shows no GPU driver), where the ONNX engine trains as fast; --engine torch forces PyTorch';

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
 * The engine for a setting (`--engine` / the config's `engine` key), the GPU
 * the OS shows (sightGpu; null: none) and the probe of the Python environment
 * (undefined when it was not run: see needsTorchProbe). `auto` with no GPU
 * seen is the ONNX engine whatever the probe says, so that doctor (which
 * always probes) and train (which then does not) agree. Otherwise `auto`
 * takes PyTorch when its environment is complete and sees a CUDA, ROCm or MPS
 * device, and the ONNX engine otherwise (on a CPU the ONNX engine trains
 * as fast as PyTorch: README, Performance). `torch` asked for by name and not
 * runnable is an error, never a silent switch; on a CPU-only torch it runs.
 */
export function chooseTrainEngine(
  setting: EngineSetting,
  probe: TorchProbe | undefined,
  gpu: string | null,
): EngineChoice {
  if (setting === 'onnx') return { engine: 'onnx', reason: 'asked for (engine: onnx)' };
  if (setting === 'auto' && gpu === null) return { engine: 'onnx', reason: NO_GPU_REASON };
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

export interface ResolvedEngine {
  choice: EngineChoice;
  /** The Python environment's probe, where the choice needed it. */
  probe?: TorchProbe;
  /** The GPU the OS shows (null: none, or not looked for under `onnx`). */
  gpu: string | null;
}

/**
 * What `vembed train` runs on: the OS looked at first (cheap), Python probed only when the choice needs it
 * (importing torch takes seconds). `vembed doctor` makes the same choice from the same two answers.
 */
export async function resolveTrainEngine(
  setting: EngineSetting,
  opts: { python?: string; view?: OsView } = {},
): Promise<ResolvedEngine> {
  const gpu = setting === 'onnx' ? null : sightGpu(opts.view);
  const probe = needsTorchProbe(setting, gpu)
    ? await probeTorchEnv({ ...(opts.python !== undefined ? { python: opts.python } : {}), imports: 'torch' })
    : undefined;
  return { choice: chooseTrainEngine(setting, probe, gpu), gpu, ...(probe ? { probe } : {}) };
}
