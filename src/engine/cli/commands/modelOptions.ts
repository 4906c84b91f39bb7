import * as path from 'node:path';
/** What the commands that embed images with a model share: their options and the model's lifetime. */
import { boundsOf, type OptionSpec } from '../args';
import { UserError } from '../../../shared/userError';
import { type CommandContext } from '../command';
import { imageLoaderFromConfig, workersCappedMessage, type ImageLoader } from '../../image/loader';
import { defaultConfig } from '../../../shared/config/schema';
import type { ImageProcessing } from '../../model/types';
import type { Dinov2ImageEncoder } from '../../model/encoder';
import { embedImages } from '../../run/embed';
import { encoderForInference } from '../../run/modelSetup';
import { assertFiniteEmbeddings } from '../../run/finiteEmbeddings';
import { backendFromOptions, COMPUTE_OPTIONS, type CommandBackend } from './backendOption';
import { OnnxPixelEmbedder } from '../../onnx/embedder';
import { OnnxFileEmbedder } from '../../onnx/fileEmbedder';

/**
 * `--onnx FILE.onnx`: embed with an exported file (`vembed export onnx`, any precision) instead of the
 * model's own graph; the model still gives the preprocessing. Measures what an export loses.
 */
export const ONNX_FILE_OPTION: OptionSpec = {
  name: 'onnx',
  type: 'string',
  metavar: 'FILE.onnx',
  description:
    'Embed with this file written by `vembed export onnx` (e.g. --precision int8) instead of the model; ' +
    '--model_path must be the model it was exported from (it gives the image size and normalisation).',
};

/** `--model`: what embed and export onnx load. */
export const MODEL_OPTION: OptionSpec = {
  name: 'model',
  type: 'string',
  metavar: 'DIR_OR_ID',
  required: true,
  description: 'Model folder, LoRA adapter folder, checkpoint, or hub id.',
};

export const POOL_OPTION: OptionSpec = {
  name: 'pool',
  type: 'string',
  metavar: 'cls|mean',
  description: "Pooled output: the CLS token or the mean of the patch tokens (default: the model's own, else cls).",
};
// Embedding batches take the limits of the config's eval_batch_size, decoding threads those of num_workers.
export const BATCH_OPTION: OptionSpec = {
  name: 'batch_size',
  type: 'integer',
  metavar: 'N',
  default: 32,
  bounds: boundsOf('eval_batch_size'),
  description: 'Images per forward pass (memory, not results).',
};
export const WORKERS_OPTION: OptionSpec = {
  name: 'num_workers',
  type: 'integer',
  metavar: 'N',
  default: 1,
  bounds: boundsOf('num_workers'),
  description: 'Image decoding threads (0: on the main thread; more than two per core are not started).',
};
export const IMAGE_SIZE_OPTION: OptionSpec = {
  name: 'image_size',
  type: 'integer',
  metavar: 'PX',
  description: "Input size (a multiple of 14); default: the model's preprocessor_config.json.",
};

/** The options of every command that embeds images. */
export const INFERENCE_OPTIONS: readonly OptionSpec[] = [
  POOL_OPTION,
  BATCH_OPTION,
  WORKERS_OPTION,
  IMAGE_SIZE_OPTION,
  ...COMPUTE_OPTIONS,
];

export function poolFrom(value: unknown): 'cls' | 'mean' | undefined {
  if (value === undefined) return undefined;
  if (value === 'cls' || value === 'mean') return value;
  throw new Error(`--pool takes cls or mean, got "${String(value)}"`);
}

/** An evaluation-only image loader (no augmentation, no cache). */
export function evalLoader(processing: ImageProcessing, numWorkers: number): ImageLoader {
  return imageLoaderFromConfig({ ...defaultConfig(), num_workers: numWorkers, enable_image_cache: false }, processing);
}

export interface InferenceModel {
  encoder: Dinov2ImageEncoder;
  backend: CommandBackend;
  /** [N, D] embeddings of the images, in order, with the command's batch size and signal. */
  embed(paths: string[], onProgress?: (done: number, total: number) => void): Promise<Float32Array>;
}

/**
 * Activate the backend, announce the run, load the model with the command's
 * options, run `fn`, and release the model and the image workers whatever happens.
 */
export async function withInferenceModel<T>(
  modelPath: string,
  command: string,
  ctx: CommandContext,
  fn: (m: InferenceModel) => Promise<T>,
  runDir?: string,
): Promise<T> {
  const { args, reporter, signal } = ctx;
  const o = args.options;
  const backend = await backendFromOptions(o, reporter);
  const onnx = backend.onnx;
  reporter.event({
    type: 'run_started',
    command,
    backend: onnx?.name ?? backend.name,
    device: onnx?.line ?? backend.device,
    ...(runDir ? { runDir } : {}),
  });
  const encoder = await encoderForInference(
    modelPath,
    { reporter, signal, baseDir: process.cwd() },
    { pooling: poolFrom(o.pool), imageSize: (o.image_size as number | undefined) ?? null },
  );
  let onnxEmbedder: OnnxPixelEmbedder | OnnxFileEmbedder | null = null;
  try {
    if (o.onnx !== undefined) {
      if (!onnx) {
        encoder.dispose();
        throw new UserError(
          `--onnx needs ONNX Runtime, and this run's backend is ${backend.name}`,
          'Use --backend onnx-cpu (or leave --backend out); `vembed doctor` says why ONNX Runtime does not load.',
        );
      }
      onnxEmbedder = await OnnxFileEmbedder.create(path.resolve(String(o.onnx)), onnx);
      reporter.info(`embedding with ${String(o.onnx)} (${onnx.line}); preprocessing from ${modelPath}`);
    } else if (onnx) onnxEmbedder = await OnnxPixelEmbedder.create(encoder, onnx);
  } catch (e) {
    if (e instanceof UserError || o.onnx !== undefined) {
      if (!(e instanceof UserError)) encoder.dispose();
      throw e instanceof UserError
        ? e
        : new UserError(`--onnx ${String(o.onnx)}: ${(e as Error).message.split('\n')[0]}`);
    }
    const why = `ONNX Runtime (${onnx!.name}) could not run the model: ${(e as Error).message.split('\n')[0]}`;
    if (onnx!.explicit) {
      encoder.dispose();
      throw new UserError(why, 'Run `vembed doctor`, or choose another --backend (e.g. onnx-cpu or wasm).');
    }
    // auto: the TF.js backend the run already has (e.g. a model over ONNX's 2 GB in-memory limit).
    reporter.warn(`${why}; embedding with TF.js (${backend.device})`, 'onnx-fallback');
  }
  const loader = evalLoader(encoder.processing, (o.num_workers as number | undefined) ?? 0);
  const capped = workersCappedMessage(loader);
  if (capped) reporter.warn(capped, 'workers-capped');
  const batchSize = (o.batch_size as number | undefined) ?? 32;
  const pixelEmbedder = onnxEmbedder ? onnxEmbedder.embed.bind(onnxEmbedder) : undefined;
  try {
    return await fn({
      encoder,
      backend,
      embed: async (paths, onProgress) => {
        const data = await embedImages(encoder, loader, paths, {
          batchSize,
          signal,
          ...(onProgress ? { onProgress } : {}),
          ...(pixelEmbedder ? { pixelEmbedder } : {}),
        });
        assertFiniteEmbeddings(data, paths, encoder, modelPath);
        return data;
      },
    });
  } finally {
    await onnxEmbedder?.release();
    await loader.close();
    encoder.dispose();
  }
}
