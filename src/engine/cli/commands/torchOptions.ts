/** The torch engine's options of `vembed train`, and the check of its Python environment before any work. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, type OptionSpec } from '../args';
import { UserError } from '../../../shared/userError';
import { probeTorchEnv } from '../../torch/pythonEnv';
import type { TorchEngineOptions } from '../../torch/engine';

export const TORCH_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'engine',
    type: 'string',
    metavar: 'onnx|torch',
    description:
      "What trains: onnx (vembed's engine, the default) or torch (PyTorch + transformers + peft in a Python environment). Overrides the config's engine key.",
  },
  {
    name: 'num_processes',
    type: 'string',
    metavar: 'N',
    description:
      'torch engine: processes sharing each global batch (one per GPU; on CPUs gloo). batch_size must be a multiple of N. Default 1.',
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

/** The torch engine's options; the Python environment probed first (what is missing is one line, before any work). */
export async function torchOptionsFrom(options: Record<string, unknown>): Promise<TorchEngineOptions> {
  const raw = (options.num_processes as string | undefined) ?? '1';
  const numProcesses = Number(raw);
  if (!Number.isInteger(numProcesses) || numProcesses < 1 || numProcesses > 1024)
    throw new UsageError(`--num_processes ${raw}: expected a whole number from 1 to 1024.`);
  const accelerate = options.accelerate_config as string | undefined;
  if (accelerate !== undefined && !fs.existsSync(accelerate))
    throw new UsageError(`--accelerate_config ${accelerate}: no such file.`);
  const hint =
    'Make the environment with `bash scripts/python/setup.sh` (PyTorch, transformers 5, peft, accelerate, safetensors, numpy), or name a Python that has them with --python / VEMBED_PYTHON.';
  const probe = await probeTorchEnv({ python: options.python as string | undefined, imports: 'torch' });
  if (!probe.ok) throw new UserError(`the torch engine needs Python: ${probe.error}.`, hint, 'torch-python');
  if (!probe.env.complete)
    throw new UserError(
      `the torch engine cannot run: ${probe.env.message ?? 'the environment is incomplete'}.`,
      hint,
      'torch-python',
    );
  return {
    python: probe.env.command,
    numProcesses,
    ...(accelerate ? { accelerateConfig: path.resolve(accelerate) } : {}),
    device: process.env.VEMBED_TORCH_DEVICE ?? 'auto',
  };
}
