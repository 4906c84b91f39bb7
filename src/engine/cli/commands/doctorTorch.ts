/**
 * `vembed doctor`'s "PyTorch engine" section: the Python it finds, the
 * libraries' versions, the devices and distributed backends torch sees, what
 * to install, and which engine training takes and why (chooseTrainEngine, the
 * same function `vembed train` uses). Its own module so that doctor.ts only
 * calls it.
 */
import { chooseTrainEngine, ENGINE_SETTINGS, type EngineSetting } from '../../torch/engineChoice';
import { sightGpu } from '../../torch/gpuSighting';
import {
  probeTorchEnv,
  TORCH_PACKAGES,
  type PythonSource,
  type TorchEnv,
  type TorchProbe,
} from '../../torch/pythonEnv';
import { UsageError, type OptionSpec } from '../args';

const FOUND_BY: Record<PythonSource, string> = {
  flag: '--python',
  env: 'VEMBED_PYTHON',
  'project-env': "vembed's environment (scripts/python/setup.sh)",
  path: 'PATH',
};

export const TORCH_DOCTOR_OPTIONS: OptionSpec[] = [
  {
    name: 'python',
    type: 'string',
    metavar: 'PATH',
    description:
      "The Python of the PyTorch engine (default: VEMBED_PYTHON, else vembed's environment from scripts/python/setup.sh, else python3 on PATH).",
  },
  {
    name: 'engine',
    type: 'string',
    metavar: 'auto|onnx|torch',
    description: 'The training engine setting to explain (as `vembed train --engine`; default auto).',
  },
];

export interface TorchDoctorReport {
  probe: TorchProbe;
  setting: EngineSetting;
  /** The section's lines, heading first. */
  lines: string[];
  /** "Training engine: torch (why)", or why torch asked for cannot run. */
  engineLine: string;
  /** Whether the setting can train (false: `torch` asked for and not runnable). */
  ok: boolean;
}

function gib(bytes: number | null): string {
  return bytes === null ? '' : `, ${(bytes / 1024 ** 3).toFixed(0)} GiB`;
}

function deviceLines(env: TorchEnv): string[] {
  const t = env.torch;
  if (!t) return [];
  const build = t.hip ? `ROCm ${t.hip} build` : t.cuda ? `CUDA ${t.cuda} build` : 'CPU build';
  const out = [`  torch ${t.version}: ${build}, ${t.cpuThreads} CPU thread${t.cpuThreads === 1 ? '' : 's'}`];
  if (t.devices.length === 0) out.push('  devices: CPU only (torch sees no CUDA, ROCm or MPS device)');
  for (const d of t.devices) {
    const kind = d.type === 'cuda' ? `CUDA ${d.capability ?? ''}`.trim() : d.type === 'rocm' ? 'ROCm' : 'MPS';
    out.push(`  ${d.type}:${d.index} ${d.name} (${kind}${gib(d.memoryBytes)}, bf16 ${d.bf16 ? 'yes' : 'no'})`);
  }
  if (t.cudaError) out.push(`  CUDA error: ${t.cudaError}`);
  const dist = t.distributed;
  out.push(
    dist.available
      ? `  distributed: nccl ${dist.nccl ? 'yes' : 'no'}, gloo ${dist.gloo ? 'yes' : 'no'}${dist.mpi ? ', mpi yes' : ''}` +
          (t.devices.some((d) => d.type !== 'mps') && !dist.nccl
            ? ' (several processes on GPUs need NCCL: a CUDA build of torch for Linux has it)'
            : '')
      : '  distributed: not built into this torch (one process only)',
  );
  return out;
}

/**
 * The section's text for a probe, a setting and the GPU the OS shows (sightGpu; null: none) (pure: tested
 * without running Python). The engine line is chooseTrainEngine's, from the answers `vembed train` decides on.
 */
export function formatTorchSection(
  probe: TorchProbe,
  setting: EngineSetting,
  gpu: string | null,
): Omit<TorchDoctorReport, 'probe'> {
  const choice = chooseTrainEngine(setting, probe, gpu);
  const engineLine =
    choice.engine === null
      ? `Training engine: none (${choice.reason})`
      : `Training engine: ${choice.engine} (${choice.reason})`;
  const lines = [
    'PyTorch engine (python/vembed_torch, `vembed train --engine torch`):',
    `  GPU the OS shows: ${gpu ?? 'none (no NVIDIA, ROCm or Apple GPU driver seen)'}`,
  ];
  if (!probe.ok) {
    lines.push(`- ${probe.error}`);
  } else {
    const env = probe.env;
    lines.push(
      `  Python ${env.python.version} (${env.python.implementation}): ${env.python.executable}, found by ${FOUND_BY[env.source]}`,
    );
    for (const p of TORCH_PACKAGES) {
      const version = env.packages[p];
      const broken = env.broken[p];
      lines.push(
        version === null
          ? `- ${p.padEnd(12)} missing`
          : `${broken ? '-' : '+'} ${p.padEnd(12)} ${version}${broken ? `: ${broken}` : ''}`,
      );
    }
    lines.push(...deviceLines(env));
    if (!env.complete && env.message) lines.push(`  to install: ${env.message}`);
  }
  return { setting, lines, engineLine, ok: choice.engine !== null };
}

/**
 * Probes the Python environment and formats the section. The probe starts at once (doctor calls this before
 * its other, synchronous probes, so Python starts up meanwhile) and imports torch, whose import is what breaks
 * on a machine (CUDA libraries, drivers); the other libraries are checked by their installed versions, since
 * importing transformers and peft too took 40 s on a busy 2-core machine.
 */
export function torchDoctorReport(options: Record<string, unknown>): Promise<TorchDoctorReport> {
  const raw = (options.engine as string | undefined) ?? 'auto';
  if (!(ENGINE_SETTINGS as readonly string[]).includes(raw))
    throw new UsageError(`--engine ${raw}: expected one of ${ENGINE_SETTINGS.join(', ')}.`);
  const setting = raw as EngineSetting;
  return probeTorchEnv({ python: options.python as string | undefined, imports: 'torch' }).then((probe) => ({
    probe,
    ...formatTorchSection(probe, setting, sightGpu()),
  }));
}
