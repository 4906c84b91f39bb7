/**
 * One optimizer step: gradients of the batch (through the gradient cache or
 * plainly), a finiteness check, clipping, and the AdamW update at the
 * scheduled learning rate. Nothing is applied when the loss or the gradient
 * norm is not finite.
 */
import type { Tensor } from '../backend/tf';
import type { TrainConfig } from '../../shared/config/schema';
import type { ImageEncoder } from '../model/types';
import { NonFiniteTrainingError } from './errors';
import { batchSize, cachedGradients, plainGradients, type GradientOptions, type PairBatch } from './gradients';
import type { LossConfig } from './loss';
import type { AdamW } from './optim/adamw';
import { clipGradNorm } from './optim/clip';
import { learningRateAt, type ScheduleSpec } from './optim/schedule';

export type TrainStepConfig = LossConfig &
  Pick<TrainConfig, 'max_grad_norm' | 'use_gradient_cache' | 'gradient_cache_chunk_size' | 'seed'>;

export interface TrainStepInput {
  encoder: ImageEncoder;
  optimizer: AdamW;
  /** A schedule spec, or any lr(step) function of the 0-based step. */
  schedule: ScheduleSpec | ((step: number) => number);
  config: TrainStepConfig;
  batch: PairBatch;
  /** Updates applied before this one (the global step so far). */
  globalStep: number;
  /** Dropout on; default true. */
  training?: boolean;
}

export interface TrainStepResult {
  /** The global step after this update (the first update is step 1). */
  globalStep: number;
  loss: number;
  /** The learning rate this update used. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  clipped: boolean;
  /** Whether the gradient cache ran (it is skipped when one chunk holds the whole batch). */
  usedGradientCache: boolean;
}

function lrAt(schedule: TrainStepInput['schedule'], step: number): number {
  return typeof schedule === 'function' ? schedule(step) : learningRateAt(schedule, step);
}

function disposeAll(grads: Map<string, Tensor>): void {
  for (const g of grads.values()) g.dispose();
}

export function trainStep(input: TrainStepInput): TrainStepResult {
  const { encoder, optimizer, config, batch, globalStep } = input;
  const stepNumber = globalStep + 1;
  const lr = lrAt(input.schedule, globalStep);
  const n = batchSize(batch);
  const chunkSize = config.use_gradient_cache ? config.gradient_cache_chunk_size : n;
  // A single chunk would embed the batch twice for nothing.
  const useCache = config.use_gradient_cache && n > chunkSize;
  const options: GradientOptions = {
    loss: config,
    chunkSize,
    training: input.training ?? true,
    seed: config.seed,
    step: stepNumber,
  };
  const { loss, grads } = (useCache ? cachedGradients : plainGradients)(encoder, batch, options);
  const context = { learningRate: lr, temperature: config.temperature, lossType: config.loss_type };
  if (!Number.isFinite(loss)) {
    disposeAll(grads);
    throw new NonFiniteTrainingError(stepNumber, 'loss', loss, context);
  }
  try {
    const { totalNorm, clipped } = clipGradNorm(grads, config.max_grad_norm);
    if (!Number.isFinite(totalNorm)) throw new NonFiniteTrainingError(stepNumber, 'gradient norm', totalNorm, context);
    optimizer.step(grads, lr);
    return { globalStep: stepNumber, loss, lr, gradNorm: totalNorm, clipped, usedGradientCache: useCache };
  } finally {
    disposeAll(grads);
  }
}
