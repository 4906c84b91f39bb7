/**
 * A training run, end to end: data, model, optimizer, the epoch loop with
 * per-step events, evaluation before training and after every epoch,
 * checkpoints, resume, and a clean stop on SIGINT/SIGTERM.
 *
 * Determinism: the order of an epoch is a pure function of (seed, epoch) and
 * each image's augmentation of (seed, epoch, record, slot), so a resumed run
 * sees exactly the batches an uninterrupted one would have.
 */
import * as path from 'node:path';
import type { TrainConfig } from '../../shared/config/schema';
import type { ActiveBackend } from '../backend/ladder';
import type { OnnxChoice } from '../onnx/backendChoice';
import { UserError } from '../../shared/userError';
import type { Reporter } from '../report/reporter';
import { denseLabelIds, loadPairDataset, type LoadedPairs, type PairRecord } from '../data/pairDataset';
import { imageLoaderFromConfig, workersCappedMessage } from '../image/loader';
import { prefetchBatches } from '../image/prefetch';
import { augmentationSeed, type ImageJob } from '../image/transform';
import { adapterTargetModules, saveAdapter, saveFullModel, type AdapterLayout } from '../model';
import type { PixelBatch } from '../model/types';
import type { AnyPixelSource, LoadablePixels } from '../train/pixels';
import {
  AdamW,
  appendLossHistory,
  checkpointName,
  configHash,
  findLatestCheckpoint,
  isExcludedFromWeightDecay,
  loadCheckpoint,
  NonFiniteTrainingError,
  removeStaleCheckpointTemps,
  saveCheckpoint,
  scheduleFromConfig,
  GradientLanes,
  gradientWorkerCount,
  trainStep,
  trainStepParallel,
  type LoadedCheckpoint,
  type LossRecord,
} from '../train';
import { Rng } from '../util/rng';
import { encoderForTraining } from './modelSetup';
import { BatchImageScreen } from './batchImages';
import { formatProblem } from '../data/problems';
import { ImageCheckAborted } from '../data/imageCheck';
import { ImageReadError } from '../image/decode';
import { evaluateEncoder, evaluationSet, type EvaluationSet } from './evaluation';

export interface TrainRunOptions {
  config: TrainConfig;
  configFile: string;
  reporter: Reporter;
  signal: AbortSignal;
  /** TF.js trains; ONNX Runtime, when chosen, embeds for the evaluation after every epoch. */
  backend: ActiveBackend & { onnx?: OnnxChoice | null };
  /** `latest`, or a checkpoint folder. */
  resume?: string;
  cwd: string;
}

interface Batch {
  epoch: number;
  /** Position in the epoch's order after this batch. */
  endPosition: number;
  records: PairRecord[];
  /** Indices of the records in the training file (augmentation seeds use them). */
  indices: number[];
}

/** The epoch's order: a permutation drawn from (seed, epoch) alone. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  return new Rng((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order);
}

/** Steps in an epoch: full batches only (a ragged last batch would change the contrastive task), at least one. */
export function stepsPerEpoch(records: number, batchSize: number): number {
  return Math.max(1, Math.floor(records / batchSize));
}

export function plannedSteps(
  config: Pick<TrainConfig, 'epochs' | 'max_steps' | 'batch_size'>,
  records: number,
): number {
  const all = config.epochs * stepsPerEpoch(records, config.batch_size);
  return config.max_steps > 0 ? Math.min(all, config.max_steps) : all;
}

function* batchesFrom(
  records: readonly PairRecord[],
  config: TrainConfig,
  startEpoch: number,
  startPosition: number,
): Generator<Batch> {
  const perEpoch = stepsPerEpoch(records.length, config.batch_size);
  const size = Math.min(config.batch_size, records.length);
  for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
    const order = epochOrder(records.length, config.seed, epoch);
    for (let b = Math.floor(startPosition / size); b < perEpoch; b++) {
      const indices = order.slice(b * size, (b + 1) * size);
      yield { epoch, endPosition: (b + 1) * size, records: indices.map((i) => records[i]!), indices };
    }
    startPosition = 0;
  }
}

function jobsFor(batch: Batch, side: 0 | 1, seed: number): ImageJob[] {
  return batch.records.map((r, i) => ({
    path: side === 0 ? r.query : r.positive,
    transform: { kind: 'train' as const, seed: augmentationSeed(seed, batch.epoch, batch.indices[i]!, side) },
  }));
}

const OOM = /out of memory|Array buffer allocation failed|Cannot allocate|memory access out of bounds|Aborted\(/i;

export async function runTraining(opts: TrainRunOptions): Promise<number> {
  const { config, reporter, signal } = opts;
  const started = performance.now();
  const outputDir = config.output_dir;

  // ---- data (fails before any model work, with every bad record listed)
  if (!config.data_path)
    throw new UserError(
      '`data_path` is not set: training needs a file of pairs.',
      'Set data_path in the config (for SOP: run `vembed prepare-sop` first).',
      'config',
    );
  const load = async (file: string, what: string): Promise<LoadedPairs> => {
    const r = await loadPairDataset(file, config, {
      signal,
      onProgress: (done, total) =>
        reporter.event({ type: 'progress', task: `checking ${what} images`, done, total, unit: 'images' }),
    });
    if (r.skipped > 0)
      reporter.warn(
        `${what}: skipped ${r.skipped} invalid record(s) of ${r.file} (skip_invalid_records).`,
        'records-skipped',
      );
    return r;
  };
  let train: LoadedPairs;
  let val: LoadedPairs | undefined;
  try {
    train = await load(config.data_path, 'training');
    val = config.val_data_path ? await load(config.val_data_path, 'validation') : undefined;
  } catch (e) {
    // Ctrl+C while the images are checked: nothing was trained, so nothing to save; a clean stop.
    if (!(e instanceof ImageCheckAborted)) throw e;
    reporter.event({ type: 'finished', status: 'stopped', seconds: (performance.now() - started) / 1000, outputs: {} });
    if (!reporter.json) reporter.info('stopped while checking the images; nothing was trained');
    return 0;
  }
  if (train.records.length < 2)
    throw new UserError(
      `${train.file} has ${train.records.length} usable record(s); contrastive training needs at least 2.`,
      undefined,
      'data',
    );
  const valSet: EvaluationSet | undefined = val ? evaluationSet(val.records) : undefined;
  const labels = denseLabelIds(train.records);

  // ---- resume point
  removeStaleCheckpointTemps(outputDir);
  let resumed: LoadedCheckpoint | undefined;
  if (opts.resume) {
    const dir = opts.resume === 'latest' ? findLatestCheckpoint(outputDir)?.dir : path.resolve(opts.cwd, opts.resume);
    if (!dir)
      throw new UserError(
        `no complete checkpoint in ${outputDir} to resume from`,
        'Train without --resume, or name a checkpoint folder.',
        'no-checkpoint',
      );
    resumed = loadCheckpoint(dir);
    if (resumed.trainerState.configHash !== configHash(config)) {
      reporter.warn(
        `the config differs from the one ${path.basename(dir)} was trained with; resuming anyway with the current config.`,
        'config-changed',
      );
    }
  }

  // ---- model and optimizer
  const encoder = await encoderForTraining(config, { reporter, signal, baseDir: opts.cwd }, resumed?.dir);
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
  const totalSteps = plannedSteps(config, train.records.length);
  if (resumed && resumed.trainerState.totalSteps !== totalSteps) {
    const at = resumed.trainerState.globalStep;
    reporter.info(
      `the run now has ${totalSteps} steps (it was planned for ${resumed.trainerState.totalSteps}; epochs ${config.epochs}, max_steps ${config.max_steps}); the learning-rate schedule follows the new length.` +
        (at >= totalSteps ? ` ${path.basename(resumed.dir)} is at step ${at} already: nothing to train.` : ''),
    );
  }
  const schedule = scheduleFromConfig(config, totalSteps);
  let globalStep = resumed?.trainerState.globalStep ?? 0;
  let history: LossRecord[] = resumed?.trainerState.lossHistory ?? [];
  const trainable = [...params.values()].reduce((n, v) => n + v.size, 0);
  // The gradient cache's chunks over every computing thread (wasm: one model copy per worker thread).
  const chunked = config.use_gradient_cache && config.batch_size > config.gradient_cache_chunk_size;
  const lanes = chunked
    ? await GradientLanes.start(encoder, gradientWorkerCount(), (m) => reporter.warn(m, 'gradient-workers'))
    : null;
  // On the CPU backends a step takes far longer than decoding its images, so the gradient cache
  // decodes each chunk's images when a lane needs them (twice a step) instead of holding the whole
  // batch: memory then does not grow with batch_size. Native TensorFlow gets each batch decoded
  // once, ahead of its step.
  const lazyPixels = chunked && (opts.backend.name === 'wasm' || opts.backend.name === 'cpu');

  reporter.event({
    type: 'run_started',
    command: 'train',
    backend: opts.backend.name,
    device: opts.backend.device,
    runDir: outputDir,
    configFile: path.resolve(opts.cwd, opts.configFile),
    config: config as unknown as Record<string, unknown>,
    totalSteps,
    epochs: config.epochs,
    ...(resumed ? { resumedFrom: resumed.dir } : {}),
  });
  if (opts.backend.onnx)
    reporter.info(
      `evaluation embeds with ${opts.backend.onnx.line} (a graph of the weights as they are after each epoch)`,
    );
  reporter.info(
    `model ${config.model_name}: ${encoder.config.numHiddenLayers} layers, hidden ${encoder.config.hiddenSize}, input ${encoder.processing.imageSize}px, ` +
      `${config.use_lora ? `LoRA r=${config.lora_r}` : 'full fine-tuning'}, ${trainable.toLocaleString('en-US')} trainable parameters; ` +
      `${train.records.length} training pairs, ${totalSteps} steps of ${config.batch_size}${lanes && lanes.size > 1 ? ` (gradient cache on ${lanes.size} threads)` : ''}${valSet ? `; validation on ${valSet.paths.length} images` : ''}`,
  );

  let lastCheckpoint: string | undefined = resumed?.dir;
  const saveAt = (kind: 'step' | 'epoch' | 'stop', epoch: number, positionInEpoch: number): string => {
    const name = kind === 'epoch' ? checkpointName('epoch', epoch) : checkpointName('step', globalStep);
    const dir = saveCheckpoint(outputDir, name, {
      trainerState: {
        globalStep,
        epoch,
        positionInEpoch,
        totalSteps,
        rngStates: {},
        configHash: configHash(config),
        lossHistory: history,
        savedAt: new Date().toISOString(),
      },
      optimizerState: optimizer.exportState(),
      writeModel: (d) =>
        config.use_lora
          ? saveAdapter(encoder, d, { baseModelNameOrPath: config.model_name, layout: adapterLayout })
          : saveFullModel(encoder, d),
    });
    lastCheckpoint = dir;
    reporter.event({
      type: 'checkpoint',
      path: dir,
      step: globalStep,
      epoch: kind === 'epoch' ? epoch : epoch + 1,
      kind,
    });
    return dir;
  };

  const evalBatch = config.eval_batch_size ?? Math.min(config.batch_size, 64);
  const evaluate = async (epoch: number) => {
    if (!valSet) return;
    const r = await evaluateEncoder(encoder, loader, valSet, {
      batchSize: evalBatch,
      outputDir,
      epoch,
      imageRoot: val!.imageRoot,
      allowOutsideRoot: config.allow_absolute_paths,
      // What the index must embed queries with: the checkpoint just saved (the base model before training).
      model: lastCheckpoint ?? config.model_name,
      backend: opts.backend.onnx?.name ?? opts.backend.name,
      onnx: opts.backend.onnx ?? null,
      onNote: (message) => reporter.warn(message, 'onnx-fallback'),
      signal,
      onProgress: (done, total) =>
        reporter.event({ type: 'progress', task: `evaluating (epoch ${epoch})`, done, total, unit: 'images' }),
    });
    reporter.event({
      type: 'evaluation',
      epoch,
      step: globalStep,
      split: 'val',
      metrics: r.metrics,
      numImages: r.numImages,
      numValidQueries: r.numValidQueries,
      reportPath: r.reportPath,
    });
    latestEval = r;
  };
  let latestEval: Awaited<ReturnType<typeof evaluateEncoder>> | undefined;

  const screen = config.validate_data
    ? undefined
    : new BatchImageScreen(config.skip_invalid_records, train.imageRoot, (p) =>
        reporter.warn(`skipped the record at ${formatProblem(p)} (skip_invalid_records)`, 'record-skipped'),
      );
  let status: 'completed' | 'stopped' | 'failed' = 'completed';
  try {
    if (!resumed) await evaluate(0);
    const startEpoch = resumed?.trainerState.epoch ?? 0;
    const startPosition = resumed?.trainerState.positionInEpoch ?? 0;
    const batches = [
      ...takeSteps(batchesFrom(train.records, config, startEpoch, startPosition), totalSteps - globalStep),
    ];
    const load2 = async (whole: Batch): Promise<{ b: Batch; q: AnyPixelSource; p: AnyPixelSource }> => {
      // Without validate_data the images were not decoded before the run: decode each batch's once here.
      const b = screen ? { ...whole, ...(await screen.screen(whole, signal)) } : whole;
      if (b.records.length < 2)
        throw new UserError(
          `the batch of step ${globalStep + 1} has ${b.records.length} readable record(s) left; contrastive training needs at least 2.`,
          'Fix the images of the skipped records.',
          'data',
        );
      if (lazyPixels) {
        const side = (s: 0 | 1): LoadablePixels => {
          const jobs = jobsFor(b, s, config.seed);
          return { n: jobs.length, load: (start, count) => loader.load(jobs.slice(start, start + count)) };
        };
        return { b, q: side(0), p: side(1) };
      }
      const [q, p] = await Promise.all([
        loader.load(jobsFor(b, 0, config.seed)),
        loader.load(jobsFor(b, 1, config.seed)),
      ]);
      return { b, q, p };
    };
    let epochLosses: number[] = [];
    let epochStarted = performance.now();
    let stepSecondsAvg: number | undefined;
    let currentEpoch = startEpoch;
    for await (const { b, q, p } of prefetchBatches(batches, load2)) {
      if (b.epoch !== currentEpoch) {
        currentEpoch = b.epoch;
        epochLosses = [];
        epochStarted = performance.now();
      }
      const t0 = performance.now();
      const stepInput = {
        encoder,
        optimizer,
        schedule,
        config,
        batch: { queries: q, positives: p, labels: b.indices.map((i) => labels[i]!) },
        globalStep,
      };
      const result = lanes
        ? await trainStepParallel(stepInput, lanes)
        : trainStep({
            ...stepInput,
            batch: { ...stepInput.batch, queries: q as PixelBatch, positives: p as PixelBatch },
          });
      globalStep = result.globalStep;
      const seconds = (performance.now() - t0) / 1000;
      stepSecondsAvg = stepSecondsAvg === undefined ? seconds : 0.8 * stepSecondsAvg + 0.2 * seconds;
      epochLosses.push(result.loss);
      history = appendLossHistory(history, {
        step: globalStep,
        loss: result.loss,
        lr: result.lr,
        gradNorm: result.gradNorm,
      });
      const images = 2 * b.records.length;
      const event = {
        type: 'step' as const,
        step: globalStep,
        epoch: b.epoch + 1,
        loss: result.loss,
        lr: result.lr,
        gradNorm: result.gradNorm,
        imagesPerSecond: images / seconds,
        etaSeconds: (totalSteps - globalStep) * stepSecondsAvg,
      };
      if (reporter.json || globalStep % config.logging_steps === 0 || globalStep === 1 || globalStep === totalSteps)
        reporter.event(event);

      const epochEnds =
        b.endPosition >=
        stepsPerEpoch(train.records.length, config.batch_size) * Math.min(config.batch_size, train.records.length);
      if (signal.aborted) {
        reporter.info(`stopping at step ${globalStep}: saving a checkpoint`);
        if (epochEnds) saveAt('epoch', b.epoch + 1, 0);
        else saveAt('stop', b.epoch, b.endPosition);
        status = 'stopped';
        break;
      }
      if (config.save_steps > 0 && globalStep % config.save_steps === 0 && !epochEnds)
        saveAt('step', b.epoch, b.endPosition);
      if (epochEnds || globalStep === totalSteps) {
        const meanLoss = epochLosses.reduce((a, x) => a + x, 0) / epochLosses.length;
        reporter.event({
          type: 'epoch',
          epoch: b.epoch + 1,
          step: globalStep,
          meanLoss,
          seconds: (performance.now() - epochStarted) / 1000,
        });
        if (epochEnds) saveAt('epoch', b.epoch + 1, 0);
        else saveAt('step', b.epoch, b.endPosition);
        await evaluate(b.epoch + 1);
      }
    }
  } catch (e) {
    status = 'failed';
    if (e instanceof NonFiniteTrainingError) {
      reporter.event({
        type: 'error',
        code: 'non-finite-loss',
        message: e.message,
        hint: `The last good checkpoint is ${lastCheckpoint ?? 'none (no checkpoint was saved yet)'}.`,
      });
    } else if (OOM.test((e as Error).message ?? '')) {
      reporter.event({
        type: 'error',
        code: 'out-of-memory',
        message: `out of memory at step ${globalStep + 1}: ${(e as Error).message.split('\n')[0]}`,
        hint: `Use a smaller gradient_cache_chunk_size (now ${config.gradient_cache_chunk_size}${config.use_gradient_cache ? '' : '; or turn on use_gradient_cache'}), eval_batch_size or image_size. The last checkpoint is ${lastCheckpoint ?? 'none'}.`,
      });
    } else if (e instanceof ImageReadError) {
      // An image that decoded before and fails now (changed on disk during the run): name its records.
      const users = train.records.filter((r) => r.query === e.path || r.positive === e.path);
      const where = users
        .slice(0, 3)
        .map((r) => `${r.file}:${r.line}`)
        .join(', ');
      throw new UserError(
        `${where || e.path}: cannot read image ${e.path} at step ${globalStep + 1}: ${e.reason}`,
        `Fix the image, then continue with --resume latest (the last checkpoint is ${lastCheckpoint ?? 'none'}).`,
        'bad-data',
        users[0]?.file,
        users[0]?.line,
      );
    } else if (signal.aborted && (e as Error).name === 'EmbeddingAborted') {
      status = 'stopped';
    } else {
      throw e;
    }
  } finally {
    await lanes?.close();
    await loader.close();
    optimizer.dispose();
    encoder.dispose();
  }
  if (screen && screen.skipped.size > 0)
    reporter.warn(
      `training: skipped ${screen.skipped.size} record(s) whose images could not be read (skip_invalid_records).`,
      'records-skipped',
    );
  const seconds = (performance.now() - started) / 1000;
  const outputs: Record<string, string> = { events: path.join(outputDir, 'events.jsonl') };
  if (latestEval)
    Object.assign(outputs, {
      neighbours: latestEval.neighboursPath,
      index: latestEval.indexDir,
      report_after: latestEval.reportPath,
    });
  reporter.event({ type: 'finished', status, seconds, ...(lastCheckpoint ? { lastCheckpoint } : {}), outputs });
  if (!reporter.json && status === 'completed')
    reporter.info(`done: ${globalStep} steps in ${seconds.toFixed(0)}s; checkpoints in ${outputDir}`);
  return status === 'failed' ? 1 : 0;
}

function* takeSteps<T>(it: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  let i = 0;
  for (const x of it) {
    yield x;
    if (++i >= n) return;
  }
}
