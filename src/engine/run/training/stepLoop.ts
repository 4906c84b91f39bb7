/**
 * The training loop: for each batch, one optimizer step (on the gradient
 * cache's lanes or in one piece), a `step` event, checkpoints every
 * save_steps and at each epoch's end, the evaluation after every epoch, and
 * on a stop request a checkpoint of where the run is, then the end.
 */
import type { TrainConfig } from '../../../shared/config/schema';
import { UserError } from '../../../shared/userError';
import type { Reporter } from '../../report/reporter';
import type { ImageLoader } from '../../image/loader';
import { prefetchBatches } from '../../image/prefetch';
import type { PixelBatch } from '../../model/types';
import type { AnyPixelSource, LoadablePixels } from '../../train/pixels';
import { appendLossHistory, trainStep, trainStepParallel, type LossRecord, type TrainStepResult } from '../../train';
import type { BatchImageScreen } from '../batchImages';
import { endsEpoch, jobsFor, type Batch } from './batches';
import type { Checkpointer } from './checkpointer';
import type { TrainingModel } from './modelSetup';

/** Where the run is: advanced by every step, read by checkpoints and failure reports. */
export interface LoopPosition {
  globalStep: number;
  history: LossRecord[];
}

export interface StepLoopInput {
  config: TrainConfig;
  reporter: Reporter;
  signal: AbortSignal;
  model: TrainingModel;
  batches: readonly Batch[];
  /** Number of training records (an epoch's length). */
  records: number;
  labels: ArrayLike<number>;
  /** Set when the images were not checked before the run: unreadable ones are dropped batch by batch. */
  screen: BatchImageScreen | undefined;
  /** Decode each chunk's images when a lane needs them instead of holding the whole batch. */
  lazyPixels: boolean;
  checkpoints: Checkpointer;
  /** Evaluates after `epoch` epochs. */
  evaluate: (epoch: number) => Promise<void>;
  position: LoopPosition;
  /**
   * Another engine's optimizer step (the torch engine: src/engine/torch), in place of this process's; it gets
   * the decoded batch.
   */
  engineStep?: (
    globalStep: number,
    batch: { queries: PixelBatch; positives: PixelBatch; labels: number[] },
  ) => Promise<TrainStepResult>;
  /** Brings that engine's state into the encoder and optimizer before a checkpoint is written. */
  beforeSave?: () => Promise<void>;
}

/** A batch with its two sides' pixels, decoded or ready to decode chunk by chunk. */
interface LoadedBatch {
  batch: Batch;
  queries: AnyPixelSource;
  positives: AnyPixelSource;
}

function batchLoader(
  input: Pick<StepLoopInput, 'config' | 'screen' | 'lazyPixels' | 'signal' | 'position'>,
  loader: ImageLoader,
) {
  const { config, screen, signal } = input;
  return async (whole: Batch): Promise<LoadedBatch> => {
    // Without validate_data the images were not decoded before the run: decode each batch's once here.
    const batch = screen ? { ...whole, ...(await screen.screen(whole, signal)) } : whole;
    if (batch.records.length < 2)
      throw new UserError(
        `the batch of step ${input.position.globalStep + 1} has ${batch.records.length} readable record(s) left; contrastive training needs at least 2.`,
        'Fix the images of the skipped records.',
        'data',
      );
    if (input.lazyPixels) {
      const side = (s: 0 | 1): LoadablePixels => {
        const jobs = jobsFor(batch, s, config.seed);
        return { n: jobs.length, load: (start, count) => loader.load(jobs.slice(start, start + count)) };
      };
      return { batch, queries: side(0), positives: side(1) };
    }
    const [queries, positives] = await Promise.all([
      loader.load(jobsFor(batch, 0, config.seed)),
      loader.load(jobsFor(batch, 1, config.seed)),
    ]);
    return { batch, queries, positives };
  };
}

/** Runs the batches; 'stopped' when a stop request ended the run early (after saving a checkpoint). */
export async function runStepLoop(input: StepLoopInput): Promise<'completed' | 'stopped'> {
  const { config, reporter, signal, model, position, checkpoints } = input;
  const { encoder, optimizer, schedule, lanes, totalSteps } = model;
  const save = async (kind: 'step' | 'epoch' | 'stop', epoch: number, positionInEpoch: number) => {
    await input.beforeSave?.();
    return checkpoints.save(kind, epoch, positionInEpoch, { ...position, totalSteps });
  };
  let epochLosses: number[] = [];
  let epochStarted = performance.now();
  let stepSecondsAvg: number | undefined;
  let currentEpoch = input.batches[0]?.epoch;
  for await (const { batch, queries, positives } of prefetchBatches(input.batches, batchLoader(input, model.loader))) {
    if (batch.epoch !== currentEpoch) {
      currentEpoch = batch.epoch;
      epochLosses = [];
      epochStarted = performance.now();
    }
    const t0 = performance.now();
    const stepInput = {
      encoder,
      optimizer,
      schedule,
      config,
      batch: { queries, positives, labels: batch.indices.map((i) => input.labels[i]!) },
      globalStep: position.globalStep,
    };
    const result = input.engineStep
      ? await input.engineStep(position.globalStep, {
          queries: queries as PixelBatch,
          positives: positives as PixelBatch,
          labels: stepInput.batch.labels,
        })
      : lanes
        ? await trainStepParallel(stepInput, lanes)
        : trainStep({
            ...stepInput,
            batch: { ...stepInput.batch, queries: queries as PixelBatch, positives: positives as PixelBatch },
          });
    position.globalStep = result.globalStep;
    const seconds = (performance.now() - t0) / 1000;
    stepSecondsAvg = stepSecondsAvg === undefined ? seconds : 0.8 * stepSecondsAvg + 0.2 * seconds;
    epochLosses.push(result.loss);
    position.history = appendLossHistory(position.history, {
      step: position.globalStep,
      loss: result.loss,
      lr: result.lr,
      gradNorm: result.gradNorm,
    });
    const step = position.globalStep;
    if (reporter.json || step % config.logging_steps === 0 || step === 1 || step === totalSteps)
      reporter.event({
        type: 'step',
        step,
        epoch: batch.epoch + 1,
        loss: result.loss,
        lr: result.lr,
        gradNorm: result.gradNorm,
        imagesPerSecond: (2 * batch.records.length) / seconds,
        etaSeconds: (totalSteps - step) * stepSecondsAvg,
      });

    const epochEnds = endsEpoch(batch.endPosition, input.records, config.batch_size);
    if (signal.aborted) {
      reporter.info(`stopping at step ${step}: saving a checkpoint`);
      if (epochEnds) await save('epoch', batch.epoch + 1, 0);
      else await save('stop', batch.epoch, batch.endPosition);
      return 'stopped';
    }
    if (config.save_steps > 0 && step % config.save_steps === 0 && !epochEnds)
      await save('step', batch.epoch, batch.endPosition);
    if (epochEnds || step === totalSteps) {
      reporter.event({
        type: 'epoch',
        epoch: batch.epoch + 1,
        step,
        meanLoss: epochLosses.reduce((a, x) => a + x, 0) / epochLosses.length,
        seconds: (performance.now() - epochStarted) / 1000,
      });
      if (epochEnds) await save('epoch', batch.epoch + 1, 0);
      else await save('step', batch.epoch, batch.endPosition);
      await input.evaluate(batch.epoch + 1);
    }
  }
  return 'completed';
}
