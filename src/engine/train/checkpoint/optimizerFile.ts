/**
 * AdamW's state in a checkpoint: `optimizer.safetensors`, F32 tensors
 * `<param>.exp_avg` and `<param>.exp_avg_sq`, with each parameter's step
 * count in the header's metadata (`steps`, a JSON object by parameter name).
 * Safetensors keeps the file inspectable from Python (safetensors.torch.load_file).
 */
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../io/safetensors';
import type { OptimizerState, ParamState } from '../optim/adamw';

export const OPTIMIZER_FILE = 'optimizer.safetensors';
const FORMAT = 'vembed-adamw';
const EXP_AVG = '.exp_avg';
const EXP_AVG_SQ = '.exp_avg_sq';

export interface OptimizerHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export function writeOptimizerState(file: string, state: OptimizerState, hyper?: OptimizerHyper): void {
  const tensors = new Map<string, TensorToWrite>();
  const steps: Record<string, number> = {};
  for (const [name, ps] of state.params) {
    tensors.set(name + EXP_AVG, { shape: ps.shape, data: ps.expAvg });
    tensors.set(name + EXP_AVG_SQ, { shape: ps.shape, data: ps.expAvgSq });
    steps[name] = ps.step;
  }
  const metadata: Record<string, string> = { format: FORMAT, format_version: '1', steps: JSON.stringify(steps) };
  if (hyper) {
    metadata.beta1 = String(hyper.beta1);
    metadata.beta2 = String(hyper.beta2);
    metadata.eps = String(hyper.eps);
    metadata.weight_decay = String(hyper.weightDecay);
  }
  writeSafetensors(file, tensors, metadata);
}

export function readOptimizerState(file: string): OptimizerState {
  const { tensors, metadata } = readSafetensors(file);
  if (metadata.format !== FORMAT) {
    throw new Error(
      `${file}: not a vembed optimizer state (metadata format is ${JSON.stringify(metadata.format)}, expected "${FORMAT}").`,
    );
  }
  let steps: Record<string, unknown>;
  try {
    steps = JSON.parse(metadata.steps ?? '') as Record<string, unknown>;
  } catch {
    throw new Error(`${file}: the "steps" metadata is not valid JSON; the file is damaged.`);
  }
  const params = new Map<string, ParamState>();
  for (const [name, step] of Object.entries(steps)) {
    const m = tensors.get(name + EXP_AVG);
    const v = tensors.get(name + EXP_AVG_SQ);
    if (!m || !v)
      throw new Error(
        `${file}: parameter "${name}" is listed but its ${m ? 'exp_avg_sq' : 'exp_avg'} tensor is missing.`,
      );
    if (m.shape.join() !== v.shape.join())
      throw new Error(`${file}: the moments of "${name}" have different shapes ([${m.shape}] and [${v.shape}]).`);
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
      throw new Error(`${file}: the step count of "${name}" is ${JSON.stringify(step)}, expected an integer >= 0.`);
    params.set(name, { step, shape: m.shape, expAvg: m.data, expAvgSq: v.data });
  }
  if (tensors.size !== 2 * params.size) {
    const stray = [...tensors.keys()].filter(
      (k) => !params.has(k.endsWith(EXP_AVG_SQ) ? k.slice(0, -EXP_AVG_SQ.length) : k.slice(0, -EXP_AVG.length)),
    );
    throw new Error(`${file}: tensors without a step count: ${stray.slice(0, 5).join(', ')}; the file is damaged.`);
  }
  return { params };
}
