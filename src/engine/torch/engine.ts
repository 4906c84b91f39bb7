/**
 * The torch engine seen from the training run: it starts the ranks on the run's starting state, takes one
 * optimizer step per batch (the ranks embed and back-propagate; the loss and its embedding gradient are computed
 * here by src/engine/train's code, the one description of the loss), and brings the ranks' state back into the
 * CLI's encoder and optimizer when a checkpoint is due. Nothing else of the run changes: batches, pixels, the
 * schedule, checkpoints, evaluation, events and stopping are the ONNX engine's code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainConfig } from '../../shared/config/schema';
import { writeJsonAtomic } from '../../shared/fs/atomic';
import { UserError } from '../../shared/userError';
import { tf, type Tensor2D } from '../backend/tf';
import type { PixelBatch } from '../model';
import type { Reporter } from '../report/reporter';
import { resolveModelFolder } from '../run/modelSetup';
import type { TrainingModel } from '../run/training/modelSetup';
import { NonFiniteTrainingError, type TrainStepResult } from '../train';
import type { BatchLabels } from '../train/loss';
import { lossAndEmbeddingGradients } from '../train/gradients';
import { learningRateAt } from '../train/optim/schedule';
import { readRankState, writeStartState } from './exchange';
import { TorchRanks, type RankMessage } from './ranks';
import { findTorchPackageDir } from './pythonEnv';
import { buildSpec } from './spec';

export interface TorchEngineOptions {
  python: string;
  /** The processes sharing each global batch; unset with an accelerate config: the config's `num_processes`. */
  numProcesses?: number;
  accelerateConfig?: string;
  /** `auto` (CUDA where torch sees it), `cpu` or `cuda`. */
  device: string;
}

/** The folder holding the vembed_torch package (pythonEnv.ts finds it beside the sources or the bundle). */
export function torchPackageDir(): string {
  const dir = findTorchPackageDir();
  if (!dir)
    throw new UserError(
      "the torch engine's Python package (python/vembed_torch) is not beside this vembed.",
      'Reinstall vembed, or run it from its repository checkout.',
      'torch-engine',
    );
  return dir;
}

function checkBatchSplits(batchSize: number, processes: number): void {
  if (batchSize % processes !== 0)
    throw new UserError(
      `batch_size ${batchSize} does not split over ${processes} processes (each takes an equal share of the global batch).`,
      `Use a batch_size that is a multiple of ${processes}, or another --num_processes.`,
      'torch-engine',
    );
}

/** The run's Python side folder: the spec, the starting state, the step files. Removed when the run ends. */
export const EXCHANGE_DIR = '.torch';

export class TorchTrainer {
  private warnedSkip = false;

  private constructor(
    private readonly config: TrainConfig,
    private readonly model: TrainingModel,
    private readonly ranks: TorchRanks,
    private readonly exchange: string,
    private readonly reporter: Reporter,
    /** The ranks' device line, for run_started. */
    readonly device: string,
    /** Where and in which precision `embed` runs (the evaluation's log line). */
    readonly evaluationDevice: string,
  ) {}

  static async start(
    config: TrainConfig,
    model: TrainingModel,
    options: TorchEngineOptions,
    ctx: { reporter: Reporter; signal: AbortSignal; cwd: string },
  ): Promise<TorchTrainer> {
    const n = options.numProcesses;
    if (n !== undefined) checkBatchSplits(config.batch_size, n);
    const exchange = path.join(config.output_dir, EXCHANGE_DIR);
    fs.rmSync(exchange, { recursive: true, force: true });
    fs.mkdirSync(exchange, { recursive: true });
    const modelDir = await resolveModelFolder(config.model_name, { ...ctx, baseDir: ctx.cwd });
    const startState = path.join(exchange, 'start');
    writeStartState(startState, model.encoder, model.optimizer);
    const specFile = path.join(exchange, 'spec.json');
    writeJsonAtomic(
      specFile,
      buildSpec(config, model.encoder, { modelDir, startState, exchangeDir: exchange, device: options.device }),
    );
    const ranks = await TorchRanks.start({
      python: options.python,
      packageDir: torchPackageDir(),
      spec: specFile,
      ...(n !== undefined ? { numProcesses: n } : {}),
      ...(options.accelerateConfig ? { accelerateConfig: options.accelerateConfig } : {}),
      logDir: config.output_dir,
    });
    try {
      const ready = await ranks.expect('ready');
      const processes = Number(ready.processes);
      if (n !== undefined && processes !== n)
        throw new UserError(
          `the torch engine asked accelerate launch for ${n} processes and ${processes} started (accelerate's MULTI_CPU type starts several only through mpirun; without it, one).`,
          `On one machine use an accelerate config with distributed_type: MULTI_GPU (with use_cpu: true on CPUs), or give the config an mpirun host file; or run without --accelerate_config: vembed starts --num_processes ${n} itself.`,
          'torch-engine',
        );
      checkBatchSplits(config.batch_size, processes);
      const device = String(ready.device);
      const evaluationDevice = String(ready.evaluationDevice ?? device);
      return new TorchTrainer(config, model, ranks, exchange, ctx.reporter, device, evaluationDevice);
    } catch (e) {
      await ranks.close(1000);
      throw e;
    }
  }

  /** One optimizer step on the global batch (queries and positives in batch order). */
  async step(
    globalStep: number,
    batch: { queries: PixelBatch; positives: PixelBatch; labels: BatchLabels },
  ): Promise<TrainStepResult> {
    const { config, model, ranks } = this;
    const step = globalStep + 1;
    const lr = learningRateAt(model.schedule, globalStep);
    const { queries, positives } = batch;
    const pixels = path.join(this.exchange, 'pixels.bin');
    const fd = fs.openSync(pixels, 'w');
    try {
      for (const side of [queries, positives])
        fs.writeSync(fd, new Uint8Array(side.data.buffer, side.data.byteOffset, side.data.byteLength));
    } finally {
      fs.closeSync(fd);
    }
    ranks.send({ cmd: 'step', step, lr, pixels, n: queries.n, height: queries.height, width: queries.width });
    const loss = await this.answerLossGradient(await ranks.expect('embeddings'), batch.labels);
    const stepped = await ranks.expect('stepped');
    const context = { learningRate: lr, temperature: config.temperature, lossType: config.loss_type };
    if (!Number.isFinite(loss)) throw new NonFiniteTrainingError(step, 'loss', loss, context);
    const gradNorm = Number(stepped.gradNorm);
    if (!stepped.applied) {
      if (config.mixed_precision !== 'fp16') throw new NonFiniteTrainingError(step, 'gradient norm', gradNorm, context);
      if (!this.warnedSkip)
        this.reporter.warn(
          `step ${step}: float16 gradients overflowed; the step was skipped and the loss scale lowered (fp16 loss scaling does this at the start).`,
          'fp16-overflow',
        );
      this.warnedSkip = true;
    }
    return {
      globalStep: step,
      loss,
      lr,
      gradNorm,
      clipped: stepped.clipped === true,
      usedGradientCache: config.use_gradient_cache && config.batch_size > config.gradient_cache_chunk_size,
    };
  }

  /** The loss of the gathered embeddings and its gradient, answered to rank 0; returns the loss. */
  private async answerLossGradient(message: RankMessage, labels: BatchLabels): Promise<number> {
    const [sides, n, d] = message.shape as number[];
    if (sides !== 2) throw new Error(`the torch engine sent embeddings of shape ${String(message.shape)}`);
    const bytes = fs.readFileSync(String(message.file));
    // A copy: a small file's Buffer is a view into Node's shared pool, at any offset.
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const q = tf.tensor2d(data.subarray(0, n! * d!), [n!, d!]) as Tensor2D;
    const p = tf.tensor2d(data.subarray(n! * d!), [n!, d!]) as Tensor2D;
    const { loss, grads } = lossAndEmbeddingGradients(q, p, { labels }, { loss: this.config });
    if (!grads) {
      this.ranks.send({ cmd: 'gradient', finite: false });
      return loss;
    }
    const file = path.join(this.exchange, 'gradient.bin');
    try {
      const bytes = (t: Tensor2D) => {
        const v = t.dataSync() as Float32Array;
        return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      };
      fs.writeFileSync(file, Buffer.concat([bytes(grads[0]), bytes(grads[1])]));
    } finally {
      for (const g of grads) g.dispose();
    }
    this.ranks.send({ cmd: 'gradient', finite: true, file });
    return loss;
  }

  /**
   * Embeds preprocessed images on the ranks' device in eval mode (python/vembed_torch/embed.py): the
   * evaluation's pixel embedder, so it decodes and scores as on the ONNX engine and only the forward pass moves.
   */
  async embed(pixels: PixelBatch): Promise<Float32Array> {
    const file = path.join(this.exchange, 'eval-pixels.bin');
    fs.writeFileSync(file, new Uint8Array(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength));
    this.ranks.send({ cmd: 'embed', pixels: file, n: pixels.n, height: pixels.height, width: pixels.width });
    const reply = await this.ranks.expect('embedded');
    const [n, d] = reply.shape as number[];
    const dim = this.model.encoder.embeddingDim;
    if (n !== pixels.n || d !== dim)
      throw new Error(`the torch engine embedded [${String(reply.shape)}] where [${pixels.n}, ${dim}] was due`);
    const bytes = fs.readFileSync(String(reply.file));
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  /** Brings the ranks' parameters and optimizer moments into the CLI's encoder and AdamW. */
  async sync(): Promise<void> {
    const dir = path.join(this.exchange, 'state');
    this.ranks.send({ cmd: 'export', dir });
    await this.ranks.expect('exported');
    readRankState(dir, this.model.encoder, this.model.optimizer);
  }

  async close(): Promise<void> {
    await this.ranks.close();
    fs.rmSync(this.exchange, { recursive: true, force: true });
  }

  kill(): void {
    this.ranks.kill();
  }
}
