/**
 * `vembed train`'s engine: `--engine` / the config's `engine` key resolved (resolveTrainEngine, as doctor), the
 * torch engine's options, and the check of its Python environment before any work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, type OptionSpec } from '../args';
import { UserError } from '../../../shared/userError';
import type { TorchEngineOptions } from '../../torch/engine';
import { resolveTrainEngine, type EngineSetting, type TrainEngine } from '../../torch/engineChoice';

export const TORCH_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'engine',
    type: 'string',
    metavar: 'auto|onnx|torch',
    description:
      "What trains: onnx (vembed's engine), torch (PyTorch + transformers + peft in a Python environment), or auto (the default: torch where the OS shows a CUDA/ROCm/MPS GPU and the Python environment is complete and sees it, onnx otherwise; `vembed doctor` says which and why). Overrides the config's engine key.",
  },
  {
    name: 'num_processes',
    type: 'string',
    metavar: 'N',
    description:
      "torch engine: processes sharing each global batch (one per GPU; on CPUs gloo). batch_size must be a multiple of N. Default 1, or with --accelerate_config the config's num_processes. Under engine auto it applies when auto picks torch; a run auto puts on onnx says once that it was ignored.",
  },
  {
    name: 'python',
    type: 'string',
    metavar: 'PATH',
    description:
      'torch engine: the Python to run (default: VEMBED_PYTHON, else the environment of scripts/python/setup.sh, else python3).',
  },
  {
    name: 'accelerate_config',
    type: 'string',
    metavar: 'FILE',
    description:
      'torch engine: start the processes with `accelerate launch --config_file FILE` (several machines); --num_processes is the total.',
  },
];

export interface TrainEngineResolution {
  engine: TrainEngine;
  /** Why, in words (the run logs it). */
  reason: string;
  /** The torch engine's options (engine torch only). */
  torch?: TorchEngineOptions;
  /** Said once the run has started: a torch flag given under auto that auto's onnx choice leaves unused. */
  ignored?: string;
}

const TORCH_ONLY = ['num_processes', 'accelerate_config'] as const;

/**
 * The engine a run trains on, and the torch engine's options. `torch` named and not runnable fails here, before
 * any work, with one line saying what to install; `auto` falls back to onnx and says why.
 */
export async function trainEngineFrom(
  setting: EngineSetting,
  options: Record<string, unknown>,
): Promise<TrainEngineResolution> {
  // The flags' own mistakes first: they need no Python.
  const flags = setting === 'onnx' ? undefined : torchFlags(options);
  const python = options.python as string | undefined;
  const { choice, probe } = await resolveTrainEngine(setting, python !== undefined ? { python } : {});
  if (choice.engine === 'onnx') {
    // Under auto, a process count is a wish for when auto picks torch (the extension passes its setting so):
    // unused on onnx, and said so. A launcher config asks for torch outright: refused, as with engine onnx.
    const tolerated = setting === 'auto' && options.accelerate_config === undefined;
    if (tolerated && options.num_processes !== undefined)
      return {
        engine: 'onnx',
        reason: choice.reason,
        ignored: `--num_processes ${String(options.num_processes)} applies to the torch engine; engine auto chose onnx (${choice.reason}), which trains in this one process.`,
      };
    const given = TORCH_ONLY.filter((k) => options[k] !== undefined);
    if (given.length > 0)
      throw new UsageError(
        setting === 'auto'
          ? `${given.map((k) => `--${k}`).join(' and ')} ${given.length === 1 ? 'is an option' : 'are options'} of the torch engine, but engine auto chose onnx (${choice.reason}). Give --engine torch to train with PyTorch.`
          : '--num_processes and --accelerate_config are options of the torch engine (--engine torch).',
      );
    return { engine: 'onnx', reason: choice.reason };
  }
  const hint =
    'Make the environment with `bash scripts/python/setup.sh` (PyTorch, transformers 5, peft, accelerate, safetensors, numpy), or name a Python that has them with --python / VEMBED_PYTHON.';
  if (!probe) throw new Error('the torch engine was chosen without probing Python');
  if (!probe.ok) throw new UserError(`the torch engine needs Python: ${probe.error}.`, hint, 'torch-python');
  if (!probe.env.complete)
    throw new UserError(
      `the torch engine cannot run: ${probe.env.message ?? 'the environment is incomplete'}.`,
      hint,
      'torch-python',
    );
  return {
    engine: 'torch',
    reason: choice.reason,
    torch: { python: probe.env.command, ...flags!, device: process.env.VEMBED_TORCH_DEVICE ?? 'auto' },
  };
}

/** --num_processes and --accelerate_config, checked. */
function torchFlags(options: Record<string, unknown>): Pick<TorchEngineOptions, 'numProcesses' | 'accelerateConfig'> {
  const accelerate = options.accelerate_config as string | undefined;
  if (accelerate !== undefined && !fs.existsSync(accelerate))
    throw new UsageError(`--accelerate_config ${accelerate}: no such file.`);
  const given = options.num_processes as string | undefined;
  // Without the flag an accelerate config keeps its own num_processes (accelerate launch would override it).
  if (given === undefined && accelerate) return { accelerateConfig: path.resolve(accelerate) };
  const raw = given ?? '1';
  const numProcesses = Number(raw);
  if (!Number.isInteger(numProcesses) || numProcesses < 1 || numProcesses > 1024)
    throw new UsageError(`--num_processes ${raw}: expected a whole number from 1 to 1024.`);
  return { numProcesses, ...(accelerate ? { accelerateConfig: path.resolve(accelerate) } : {}) };
}
