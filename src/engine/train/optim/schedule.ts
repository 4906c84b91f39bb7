/**
 * Learning-rate schedules as Hugging Face's `get_scheduler` builds them
 * (transformers.optimization), as a pure function of the step.
 *
 * `step` counts optimizer steps already taken (0-based): lr(0) is the rate of
 * the first update, as LambdaLR gives it. With warmup that first rate is 0,
 * exactly as in the Hugging Face Trainer.
 *
 * - warmup (all but `constant`): lr * step / max(1, warmup) while step < warmup;
 * - `cosine`:   lr * max(0, 0.5 * (1 + cos(pi * progress))), progress = (step - warmup) / max(1, total - warmup);
 * - `linear`:   lr * max(0, (total - step) / max(1, total - warmup));
 * - `constant_with_warmup`: lr after warmup;
 * - `constant`: lr at every step; warmup does not apply (HF ignores it too).
 */
import type { TrainConfig } from '../../../shared/config/schema';

export type SchedulerType = 'cosine' | 'linear' | 'constant' | 'constant_with_warmup';

export interface ScheduleSpec {
  schedulerType: SchedulerType;
  /** Peak learning rate. */
  learningRate: number;
  /** Optimizer steps of the whole run. */
  totalSteps: number;
  warmupSteps: number;
}

/** `warmup_steps` when > 0, else ceil(warmup_ratio x total steps), as TrainingArguments.get_warmup_steps. */
export function resolveWarmupSteps(totalSteps: number, warmupRatio: number, warmupSteps: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

/** The multiplier of the peak learning rate at `step`. */
export function scheduleFactor(spec: Omit<ScheduleSpec, 'learningRate'>, step: number): number {
  const { schedulerType, totalSteps: total, warmupSteps: warmup } = spec;
  if (schedulerType === 'constant') return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  switch (schedulerType) {
    case 'constant_with_warmup':
      return 1;
    case 'linear':
      return Math.max(0, (total - step) / Math.max(1, total - warmup));
    case 'cosine': {
      const progress = (step - warmup) / Math.max(1, total - warmup);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
    default:
      throw new Error(
        `scheduler_type '${String(schedulerType)}' is not implemented; use cosine, linear, constant or constant_with_warmup.`,
      );
  }
}

export function learningRateAt(spec: ScheduleSpec, step: number): number {
  return spec.learningRate * scheduleFactor(spec, step);
}

export type ScheduleConfig = Pick<TrainConfig, 'scheduler_type' | 'learning_rate' | 'warmup_ratio' | 'warmup_steps'>;

/** The schedule a config asks for over a run of `totalSteps` optimizer steps. */
export function scheduleFromConfig(config: ScheduleConfig, totalSteps: number): ScheduleSpec {
  if (!(Number.isInteger(totalSteps) && totalSteps >= 1)) {
    throw new Error(
      `The learning-rate schedule needs the run's total number of optimizer steps (an integer >= 1), got ${totalSteps}.`,
    );
  }
  return {
    schedulerType: config.scheduler_type as SchedulerType,
    learningRate: config.learning_rate,
    totalSteps,
    warmupSteps: resolveWarmupSteps(totalSteps, config.warmup_ratio, config.warmup_steps),
  };
}
