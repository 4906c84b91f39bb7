/**
 * The model side of a training run: the encoder (fresh, or the resumed
 * checkpoint's weights), the image loader, AdamW with its resumed moments,
 * the learning-rate schedule over the run's length, and what computes the
 * gradients: ONNX Runtime where the run's backend is ONNX
 * (onnx/trainBackend.ts), otherwise the gradient cache's TF.js lanes (one per
 * computing thread).
 */
import * as path from 'node:path';
import type { TrainConfig } from '../../../shared/config/schema';
import { UserError } from '../../../shared/userError';
import type { Reporter } from '../../report/reporter';
import { imageLoaderFromConfig, workersCappedMessage, type ImageLoader } from '../../image/loader';
import { adapterTargetModules, type AdapterLayout, type Dinov2ImageEncoder } from '../../model';
import {
  AdamW,
  GradientLanes,
  gradientWorkerCount,
  isExcludedFromWeightDecay,
  scheduleFromConfig,
  type LoadedCheckpoint,
  type ScheduleSpec,
} from '../../train';
import type { OnnxChoice } from '../../onnx/backendChoice';
import { startOnnxTraining } from '../../onnx/trainBackend';
import type { OnnxGradients } from '../../onnx/trainer';
import { encoderForTraining } from '../modelSetup';
import { plannedSteps } from './batches';

export interface TrainingModel {
  encoder: Dinov2ImageEncoder;
  loader: ImageLoader;
  optimizer: AdamW;
  schedule: ScheduleSpec;
  totalSteps: number;
  trainableParameters: number;
  /**
   * What computes the gradients: ONNX Runtime (every step), or the gradient cache's chunks over every
   * computing thread; null without the gradient cache on TF.js.
   */
  lanes: GradientLanes | OnnxGradients | null;
  /** Whether the gradients run on ONNX Runtime (the run's device line then names it). */
  onnxTraining: boolean;
}

export async function setUpTrainingModel(
  config: TrainConfig,
  records: number,
  resumed: LoadedCheckpoint | undefined,
  ctx: {
    reporter: Reporter;
    signal: AbortSignal;
    cwd: string;
    onnx?: OnnxChoice | null;
    /** False when another engine (the torch engine) computes the gradients: no ONNX training graphs, no lanes. */
    computeGradients?: boolean;
  },
): Promise<TrainingModel> {
  const { reporter } = ctx;
  const encoder = await encoderForTraining(config, { reporter, signal: ctx.signal, baseDir: ctx.cwd }, resumed?.dir);
  const adapterLayout = config.adapter_layout as AdapterLayout;
  if (config.use_lora) {
    // A layout that cannot name an adapted layer fails now, not at the first checkpoint.
    try {
      adapterTargetModules(encoder, adapterLayout);
    } catch (e) {
      encoder.dispose();
      throw new UserError(
        `adapter_layout ${adapterLayout}: ${(e as Error).message}`,
        'Set adapter_layout: transformers4, or change lora_target_modules.',
        'adapter-layout',
      );
    }
  }
  const loader = imageLoaderFromConfig(config, encoder.processing);
  const capped = workersCappedMessage(loader);
  if (capped) reporter.warn(capped, 'workers-capped');
  const params = encoder.trainableVariables();
  const optimizer = new AdamW(params, {
    weightDecay: config.weight_decay,
    excludeFromDecay: isExcludedFromWeightDecay,
  });
  if (resumed?.optimizerState) optimizer.importState(resumed.optimizerState);
  // The current config decides the length, also when resuming: `--resume latest --set max_steps=N`
  // (or epochs=N) extends or shortens the run. The schedule then follows the new length.
  const totalSteps = plannedSteps(config, records);
  if (resumed && resumed.trainerState.totalSteps !== totalSteps) {
    const at = resumed.trainerState.globalStep;
    reporter.info(
      `the run now has ${totalSteps} steps (it was planned for ${resumed.trainerState.totalSteps}; epochs ${config.epochs}, max_steps ${config.max_steps}); the learning-rate schedule follows the new length.` +
        (at >= totalSteps ? ` ${path.basename(resumed.dir)} is at step ${at} already: nothing to train.` : ''),
    );
  }
  const chunked = config.use_gradient_cache && config.batch_size > config.gradient_cache_chunk_size;
  const own = ctx.computeGradients !== false;
  const onnxTraining = own
    ? await startOnnxTraining(
        encoder,
        ctx.onnx,
        (m) => reporter.warn(m, 'onnx-fallback'),
        chunked ? config.gradient_cache_chunk_size : config.batch_size,
        { pairs: config.batch_size, lossType: config.loss_type },
      )
    : null;
  const lanes =
    onnxTraining ??
    (own && chunked
      ? await GradientLanes.start(encoder, gradientWorkerCount(), (m) => reporter.warn(m, 'gradient-workers'))
      : null);
  return {
    encoder,
    loader,
    optimizer,
    schedule: scheduleFromConfig(config, totalSteps),
    totalSteps,
    trainableParameters: [...params.values()].reduce((n, v) => n + v.size, 0),
    lanes,
    onnxTraining: onnxTraining !== null,
  };
}
