/**
 * A training run, end to end: data, resume point, model and optimizer, the
 * evaluation before training and after every epoch, the step loop with its
 * checkpoints, a clean stop on SIGINT/SIGTERM, and the `finished` event.
 * Each part is a module of ./training; this file puts them in order.
 */
import * as path from 'node:path';
import type { TrainConfig } from '../../shared/config/schema';
import type { ActiveBackend } from '../backend/ladder';
import type { OnnxChoice } from '../onnx/backendChoice';
import type { Reporter } from '../report/reporter';
import { removeStaleCheckpointTemps } from '../train';
import { formatProblem } from '../data/problems';
import { UserError } from '../../shared/userError';
import { BatchImageScreen } from './batchImages';
import { evaluateEncoder } from './evaluation';
import { batchesFrom, takeSteps } from './training/batches';
import { nearDuplicateOptionsFor, reportTrainingDataHealth } from './dataHealthCheck';
import { hardNegativesFor } from './hardNegativeMining';
import { Checkpointer } from './training/checkpointer';
import { classifyFailure } from './training/failures';
import { setUpTrainingModel, type TrainingModel } from './training/modelSetup';
import { resumePoint } from './training/resumePoint';
import { runStepLoop, type LoopPosition } from './training/stepLoop';
import { loadTrainingData, type TrainingData } from './training/trainingData';
import { TorchTrainer, type TorchEngineOptions } from '../torch/engine';
import { RankFailure } from '../torch/ranks';
import type { PixelBatch } from '../model';

export interface TrainRunOptions {
  config: TrainConfig;
  configFile: string;
  reporter: Reporter;
  signal: AbortSignal;
  /** TF.js trains; ONNX Runtime, when chosen, embeds for the evaluation after every epoch. */
  backend: ActiveBackend & { onnx?: OnnxChoice | null };
  /** `latest`, or a checkpoint folder. */
  resume?: string;
  /** How to run the torch engine, when the config's `engine` is `torch`. */
  torch?: TorchEngineOptions;
  /** Which engine trains and why (engineChoice.ts), said right after run_started, with a flag it left unused. */
  engineChoice?: { engine: string; reason: string; ignored?: string };
  cwd: string;
}

type RunStatus = 'completed' | 'stopped' | 'failed';
type Evaluation = Awaited<ReturnType<typeof evaluateEncoder>>;

export async function runTraining(opts: TrainRunOptions): Promise<number> {
  const { config, reporter, signal } = opts;
  const started = performance.now();
  const secondsSinceStart = () => (performance.now() - started) / 1000;

  const data = await loadTrainingData(config, reporter, signal);
  if (data === 'stopped') {
    // Ctrl+C while the images are checked: nothing was trained, so nothing to save; a clean stop.
    reporter.event({ type: 'finished', status: 'stopped', seconds: secondsSinceStart(), outputs: {} });
    if (!reporter.json) reporter.info('stopped while checking the images; nothing was trained');
    return 0;
  }
  removeStaleCheckpointTemps(config.output_dir);
  const resumed = resumePoint(opts.resume, config, opts.cwd, reporter);
  const onTorch = config.engine === 'torch';
  if (onTorch && !opts.torch) throw new Error('engine: torch needs the torch engine options (the CLI gives them)');
  const model = await setUpTrainingModel(config, data.train.records.length, resumed, {
    reporter,
    signal,
    cwd: opts.cwd,
    onnx: opts.backend.onnx,
    computeGradients: !onTorch,
  });
  let torch: TorchTrainer | undefined;
  try {
    if (onTorch) torch = await TorchTrainer.start(config, model, opts.torch!, { reporter, signal, cwd: opts.cwd });
  } catch (e) {
    await model.loader.close();
    model.optimizer.dispose();
    model.encoder.dispose();
    throw e instanceof RankFailure
      ? new UserError(
          `${e.message} (while starting).`,
          `Its log is ${config.output_dir}/torch-rank-*.log.`,
          'torch-engine',
        )
      : e;
  }
  announceRun(opts, data, model, resumed?.dir, torch);
  if (!onTorch && config.mixed_precision !== 'no')
    reporter.warn(
      `mixed_precision: ${config.mixed_precision} applies to the torch engine only; this run trains in float32.`,
      'mixed-precision-ignored',
    );

  const checkpoints = new Checkpointer(config, model.encoder, model.optimizer, reporter, resumed?.dir);
  const position: LoopPosition = {
    globalStep: resumed?.trainerState.globalStep ?? 0,
    history: resumed?.trainerState.lossHistory ?? [],
  };
  let latestEval: Evaluation | undefined;
  const evaluate = async (epoch: number) => {
    latestEval =
      (await evaluateEpoch(opts, data, model, epoch, checkpoints.last, position.globalStep, torch)) ?? latestEval;
  };
  const screen = config.validate_data
    ? undefined
    : new BatchImageScreen(config.skip_invalid_records, data.train.imageRoot, (p) =>
        reporter.warn(`skipped the record at ${formatProblem(p)} (skip_invalid_records)`, 'record-skipped'),
      );
  let status: RunStatus;
  try {
    // Reported once the run has started, so the panel and the log show it with the run.
    await reportTrainingDataHealth(
      data.train,
      data.val,
      config.output_dir,
      reporter,
      nearDuplicateOptionsFor(config, model.encoder, model.loader),
    );
    if (!resumed) await evaluate(0);
    const start = resumed?.trainerState ?? { epoch: 0, positionInEpoch: 0 };
    const neighbours = await hardNegativesFor(config, data.train.records, {
      encoder: model.encoder,
      loader: model.loader,
      outputDir: config.output_dir,
      signal,
      batchSize: config.eval_batch_size ?? Math.min(config.batch_size, 64),
      resumed: !!resumed,
      onInfo: (m) => reporter.info(m),
    });
    const batches = batchesFrom(data.train.records, config, start.epoch, start.positionInEpoch, neighbours);
    status = await runStepLoop({
      config,
      reporter,
      signal,
      model,
      batches: [...takeSteps(batches, model.totalSteps - position.globalStep)],
      records: data.train.records.length,
      labels: data.labels,
      screen,
      // On the CPU backends a step takes far longer than decoding its images, so the gradient cache
      // decodes each chunk's images when a lane needs them (twice a step) instead of holding the whole
      // batch: memory then does not grow with batch_size. Native TensorFlow gets each batch decoded
      // once, ahead of its step.
      lazyPixels: model.lanes !== null && (opts.backend.name === 'wasm' || opts.backend.name === 'cpu'),
      checkpoints,
      evaluate,
      position,
      ...(torch ? { engineStep: (step, batch) => torch.step(step, batch), beforeSave: () => torch.sync() } : {}),
    });
  } catch (e) {
    if (e instanceof RankFailure) {
      reporter.event({
        type: 'error',
        code: 'torch-rank-failed',
        message: `${e.message}, at step ${position.globalStep + 1}.`,
        hint: `The last checkpoint is ${checkpoints.last ?? 'none (no checkpoint was saved yet)'}; continue with --resume latest. The ranks' logs: ${config.output_dir}/torch-rank-*.log.`,
      });
      status = 'failed';
    } else
      status = classifyFailure(e, {
        config,
        reporter,
        signal,
        globalStep: position.globalStep,
        lastCheckpoint: checkpoints.last,
        records: data.train.records,
      });
  } finally {
    // The ranks end on `quit` (already gone when one failed); their exchange folder goes with them.
    await torch?.close();
    await model.lanes?.close();
    await model.loader.close();
    model.optimizer.dispose();
    model.encoder.dispose();
  }
  if (screen && screen.skipped.size > 0)
    reporter.warn(
      `training: skipped ${screen.skipped.size} record(s) whose images could not be read (skip_invalid_records).`,
      'records-skipped',
    );
  const seconds = secondsSinceStart();
  const outputs: Record<string, string> = { events: path.join(config.output_dir, 'events.jsonl') };
  if (latestEval)
    Object.assign(outputs, {
      neighbours: latestEval.neighboursPath,
      index: latestEval.indexDir,
      report_after: latestEval.reportPath,
    });
  reporter.event({
    type: 'finished',
    status,
    seconds,
    ...(checkpoints.last ? { lastCheckpoint: checkpoints.last } : {}),
    outputs,
  });
  if (!reporter.json && status === 'completed')
    reporter.info(`done: ${position.globalStep} steps in ${seconds.toFixed(0)}s; checkpoints in ${config.output_dir}`);
  return status === 'failed' ? 1 : 0;
}

/** The `run_started` event and the run's summary lines. */
function announceRun(
  opts: TrainRunOptions,
  data: TrainingData,
  model: TrainingModel,
  resumedFrom?: string,
  torch?: TorchTrainer,
): void {
  const { config, reporter } = opts;
  const torchDevice = torch?.device;
  const { encoder, lanes, totalSteps } = model;
  reporter.event({
    type: 'run_started',
    command: 'train',
    backend: torchDevice ? 'torch' : model.onnxTraining ? opts.backend.onnx!.name : opts.backend.name,
    device: torchDevice ?? (model.onnxTraining ? opts.backend.onnx!.line : opts.backend.device),
    runDir: config.output_dir,
    configFile: path.resolve(opts.cwd, opts.configFile),
    config: config as unknown as Record<string, unknown>,
    totalSteps,
    epochs: config.epochs,
    ...(resumedFrom ? { resumedFrom } : {}),
  });
  if (opts.engineChoice) reporter.info(`training engine: ${opts.engineChoice.engine} (${opts.engineChoice.reason})`);
  if (opts.engineChoice?.ignored) reporter.warn(opts.engineChoice.ignored, 'torch-flag-ignored');
  if (torch && data.valSet)
    reporter.info(
      `evaluation embeds on the torch engine: ${torch.evaluationDevice}, eval mode (the images decoded and scored as on the ONNX engine)`,
    );
  else if (opts.backend.onnx)
    reporter.info(
      `evaluation embeds with ${opts.backend.onnx.line} (a graph of the weights as they are after each epoch)`,
    );
  reporter.info(
    `model ${config.model_name}: ${encoder.config.numHiddenLayers} layers, hidden ${encoder.config.hiddenSize}, input ${encoder.processing.imageSize}px, ` +
      `${config.use_lora ? `LoRA r=${config.lora_r}` : 'full fine-tuning'}, ${model.trainableParameters.toLocaleString('en-US')} trainable parameters; ` +
      `${data.train.records.length} training pairs, ${totalSteps} steps of ${config.batch_size}${lanes && lanes.size > 1 ? ` (gradient cache on ${lanes.size} threads)` : ''}${torchDevice ? ` on ${torchDevice}` : ''}${data.valSet ? `; validation on ${data.valSet.paths.length} images` : ''}`,
  );
}

/** Evaluates on the validation pairs after `epoch` epochs (0: the starting model); undefined without them. */
async function evaluateEpoch(
  opts: TrainRunOptions,
  data: TrainingData,
  model: TrainingModel,
  epoch: number,
  lastCheckpoint: string | undefined,
  globalStep: number,
  torch: TorchTrainer | undefined,
): Promise<Evaluation | undefined> {
  const { config, reporter, signal } = opts;
  if (!data.valSet || !data.val) return undefined;
  const result = await evaluateEncoder(model.encoder, model.loader, data.valSet, {
    batchSize: config.eval_batch_size ?? Math.min(config.batch_size, 64),
    outputDir: config.output_dir,
    epoch,
    imageRoot: data.val.imageRoot,
    allowOutsideRoot: config.allow_absolute_paths,
    // What the index must embed queries with: the checkpoint just saved (the base model before training).
    model: lastCheckpoint ?? config.model_name,
    backend: torch ? 'torch' : (opts.backend.onnx?.name ?? opts.backend.name),
    onnx: opts.backend.onnx ?? null,
    // The torch engine's ranks hold the weights already and embed on their device (a GPU's, where they run).
    ...(torch ? { pixelEmbedder: (px: PixelBatch) => torch.embed(px) } : {}),
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
    metrics: result.metrics,
    numImages: result.numImages,
    numValidQueries: result.numValidQueries,
    reportPath: result.reportPath,
  });
  return result;
}
