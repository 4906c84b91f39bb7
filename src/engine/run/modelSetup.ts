/** From a config's `model_name` (or a checkpoint) to a loaded encoder, downloading through the hub when needed. */
import type { TrainConfig } from '../../shared/config/schema';
import { resolveModel } from '../hub';
import { downloadProgressEvent } from '../hub/progress';
import * as path from 'node:path';
import { isAdapterFolder, loadImageEncoder, type FinetuneMode } from '../model';
import type { Dinov2ImageEncoder } from '../model/encoder';
import type { Reporter } from '../report/reporter';
import { UserError } from '../../shared/userError';

export interface ModelSource {
  reporter: Reporter;
  signal?: AbortSignal;
  /** Folder relative paths are resolved against (the working directory). */
  baseDir?: string;
}

/**
 * The base model of the adapter in `adapterFolder`. A failure says where the
 * name came from: the adapter's adapter_config.json (base_model_name_or_path),
 * which the user never typed and may not know to look at.
 */
export function adapterBaseResolver(adapterFolder: string, src: ModelSource): (name: string) => Promise<string> {
  return async (name) => {
    try {
      return await resolveModelFolder(name, src);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      const configFile = path.join(adapterFolder, 'adapter_config.json');
      const where = `the LoRA adapter ${adapterFolder} names its base model "${name}" (base_model_name_or_path in ${configFile}), which cannot be loaded: `;
      const hint = `Make "${name}" available, or set base_model_name_or_path in ${configFile} to the base model's folder or hub id.`;
      if (e instanceof UserError)
        throw new UserError(where + e.message, e.hint ? `${hint} ${e.hint}` : hint, e.code, configFile);
      throw new UserError(where + e.message, hint, 'model', configFile);
    }
  };
}

/** A model folder for a hub id or a path; progress events while downloading. */
export async function resolveModelFolder(nameOrPath: string, src: ModelSource): Promise<string> {
  // A LoRA adapter folder (a checkpoint of a LoRA run) is a model too; its base is resolved when it loads.
  const local = path.resolve(src.baseDir ?? process.cwd(), nameOrPath);
  if (isAdapterFolder(local)) return local;
  const resolved = await resolveModel(nameOrPath, {
    ...(src.baseDir ? { baseDir: src.baseDir } : {}),
    ...(src.signal ? { signal: src.signal } : {}),
    onProgress: (p) => src.reporter.event(downloadProgressEvent(p, nameOrPath)),
  });
  if (resolved.source === 'download')
    src.reporter.info(`downloaded ${nameOrPath} (${resolved.downloaded.join(', ')}) into ${resolved.folder}`);
  return resolved.folder;
}

export function finetuneMode(config: TrainConfig): FinetuneMode {
  if (!config.use_lora) return { kind: 'full' };
  return {
    kind: 'lora',
    settings: {
      r: config.lora_r,
      alpha: config.lora_alpha,
      dropout: config.lora_dropout,
      targetModules: config.lora_target_modules,
    },
  };
}

/**
 * The encoder a training run starts from: the config's model, or a
 * checkpoint folder when resuming (an adapter or a full model folder).
 */
export async function encoderForTraining(
  config: TrainConfig,
  src: ModelSource,
  checkpointDir?: string,
): Promise<Dinov2ImageEncoder> {
  const folder = checkpointDir ?? (await resolveModelFolder(config.model_name, src));
  return loadImageEncoder(folder, {
    finetune: finetuneMode(config),
    pooling: config.pooling_method,
    projectionDim: config.projection_dim,
    imageSize: config.image_size,
    resolveBase: adapterBaseResolver(folder, src),
    nameOrPath: checkpointDir ? undefined : config.model_name,
    seed: config.seed,
  });
}

/** An encoder for inference (benchmark, embed, index, search) from a model, checkpoint or adapter folder or hub id. */
export async function encoderForInference(
  nameOrPath: string,
  src: ModelSource,
  options: { pooling?: 'cls' | 'mean'; imageSize?: number | null } = {},
): Promise<Dinov2ImageEncoder> {
  const folder = await resolveModelFolder(nameOrPath, src);
  return loadImageEncoder(folder, {
    ...(options.pooling ? { pooling: options.pooling } : {}),
    imageSize: options.imageSize ?? null,
    resolveBase: adapterBaseResolver(folder, src),
    nameOrPath,
  });
}
