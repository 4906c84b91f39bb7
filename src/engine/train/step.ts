/**
 * One optimizer step: gradients of the batch (through the gradient cache or
 * plainly), a finiteness check, clipping, and the AdamW update at the
 * scheduled learning rate. Nothing is applied when the loss or the gradient
 * norm is not finite.
 */
import type { TrainConfig } from '../../shared/config/schema';
import type { ImageEncoder } from '../model/types';
import { NonFiniteTrainingError } from './errors';
import {
  batchSize,
  cachedGradients,
  disposeGradients,
  plainGradients,
  type BatchGradients,
  type GradientOptions,
  type PairBatch,
} from './gradients';
import type { LanePairBatch } from './parallel/lanes';
import { chunkPixels } from './pixels';
import type { LossConfig } from './loss';
import type { AdamW } from './optim/adamw';
import { gradClipping } from './optim/clip';
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

interface PreparedStep {
  stepNumber: number;
  lr: number;
  useCache: boolean;
  options: GradientOptions;
}

function prepare(input: TrainStepInput | LaneStepInput): PreparedStep {
  const { config, batch, globalStep } = input;
  const n = batchSize(batch);
  const chunkSize = config.use_gradient_cache ? config.gradient_cache_chunk_size : n;
  const stepNumber = globalStep + 1;
  return {
    stepNumber,
    lr: lrAt(input.schedule, globalStep),
    // A single chunk would embed the batch twice for nothing.
    useCache: config.use_gradient_cache && n > chunkSize,
    options: { loss: config, chunkSize, training: input.training ?? true, seed: config.seed, step: stepNumber },
  };
}

/** Finiteness checks, clipping and the optimizer update; disposes the gradients. */
function apply(
  input: TrainStepInput | LaneStepInput,
  prepared: PreparedStep,
  gradients: BatchGradients,
): TrainStepResult {
  const { config, optimizer } = input;
  const { stepNumber, lr, useCache } = prepared;
  const { loss, grads } = gradients;
  const context = { learningRate: lr, temperature: config.temperature, lossType: config.loss_type };
  if (!Number.isFinite(loss)) {
    disposeGradients(grads.values());
    throw new NonFiniteTrainingError(stepNumber, 'loss', loss, context);
  }
  try {
    const { totalNorm, clipped, scale } = gradClipping(grads, config.max_grad_norm);
    if (!Number.isFinite(totalNorm)) throw new NonFiniteTrainingError(stepNumber, 'gradient norm', totalNorm, context);
    optimizer.step(grads, lr, scale);
    return { globalStep: stepNumber, loss, lr, gradNorm: totalNorm, clipped, usedGradientCache: useCache };
  } finally {
    disposeGradients(grads.values());
  }
}

export function trainStep(input: TrainStepInput): TrainStepResult {
  const prepared = prepare(input);
  const gradients = (prepared.useCache ? cachedGradients : plainGradients)(
    input.encoder,
    input.batch,
    prepared.options,
  );
  return apply(input, prepared, gradients);
}

/** A step's input whose batch sides may also be loaded chunk by chunk (pixels.ts, LoadablePixels). */
export interface LaneStepInput extends Omit<TrainStepInput, 'batch'> {
  batch: LanePairBatch;
}

/**
 * What computes a step's gradients through the gradient cache: the TF.js
 * lanes (parallel/lanes.ts) or ONNX Runtime (onnx/trainer.ts).
 */
export interface GradientRunner {
  cachedGradients(encoder: ImageEncoder, batch: LanePairBatch, options: GradientOptions): Promise<BatchGradients>;
  /** It also takes steps whose batch fits in one chunk (otherwise those run as `trainStep` does). */
  readonly wholeBatches?: boolean;
}

/**
 * `trainStep` with the gradient cache's chunks computed by `lanes` (the main
 * thread and worker threads, see parallel/lanes.ts, or ONNX Runtime). Steps
 * that do not use the cache run as `trainStep` does (loading a lazily loaded
 * batch whole) unless the runner takes whole batches. Same results up to the
 * order of the final gradient additions.
 */
export async function trainStepParallel(input: LaneStepInput, lanes: GradientRunner): Promise<TrainStepResult> {
  const prepared = prepare(input);
  if (prepared.useCache || lanes.wholeBatches === true)
    return apply(input, prepared, await lanes.cachedGradients(input.encoder, input.batch, prepared.options));
  const { queries, positives } = input.batch;
  const [q, p] = await Promise.all([
    chunkPixels(queries, 0, queries.n, 'query images'),
    chunkPixels(positives, 0, positives.n, 'positive images'),
  ]);
  return apply(
    input,
    prepared,
    plainGradients(input.encoder, { ...input.batch, queries: q, positives: p }, prepared.options),
  );
}
