/**
 * Load an image encoder from a model folder (Hugging Face layout) or a PEFT
 * LoRA adapter folder, and set it up for inference or training.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../io/safetensors';
import { ModelConfigError, readDinov2Config, readImageProcessing, type Dinov2Config } from './config';
import type { PoolingMethod } from './dinov2';
import { Dinov2ImageEncoder, type TensorReader } from './encoder';
import { readEmbeddingHead } from './head';
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  LoraError,
  parseAdapterConfig,
  peftKey,
  selectLoraModules,
  type LoraSettings,
} from './lora';
import { toTransformers5Path } from './moduleNames';
import type { ParamSpec } from './params';

/** What trains after loading. */
export type FinetuneMode = { kind: 'none' } | { kind: 'full' } | { kind: 'lora'; settings: LoraSettings };

export interface LoadImageEncoderOptions {
  /** Default: inference (`{kind: 'none'}`). */
  finetune?: FinetuneMode;
  /** Overrides the folder's embedding_head.json; default 'cls'. */
  pooling?: PoolingMethod;
  /**
   * A projection head of this size: kept from the folder when it has one of
   * this size (another size is an error), created fresh otherwise.
   * undefined/null: the folder's head, if any.
   */
  projectionDim?: number | null;
  /** The training config's `image_size`: replaces the preprocessor's crop size. */
  imageSize?: number | null;
  /**
   * Turns an adapter's `base_model_name_or_path` (hub id or path) into a local
   * model folder, downloading it if needed. Without it only existing folders
   * can be bases.
   */
  resolveBase?: (nameOrPath: string) => Promise<string>;
  /** What to record as this model's name (an adapter's base_model_name_or_path); default: the folder. */
  nameOrPath?: string;
  /** Seeds new adapters, a new projection head and unseeded dropout; default 0. */
  seed?: number;
}

export const MODEL_WEIGHTS_FILE = 'model.safetensors';
const MODEL_INDEX_FILE = 'model.safetensors.index.json';
/** Prefixes under which task models (e.g. Dinov2ForImageClassification) nest the backbone. */
const BACKBONE_PREFIXES = ['', 'dinov2.', 'dinov2_with_registers.'];

/** Whether a folder holds a PEFT adapter rather than a full model. */
export function isAdapterFolder(folder: string): boolean {
  return fs.existsSync(path.join(folder, ADAPTER_CONFIG_FILE));
}

export async function loadImageEncoder(
  folder: string,
  options: LoadImageEncoderOptions = {},
): Promise<Dinov2ImageEncoder> {
  const finetune = options.finetune ?? { kind: 'none' };
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw new ModelConfigError(
      `${folder}: not a folder; a model is a folder with config.json and model.safetensors, or a LoRA adapter folder with adapter_config.json`,
    );
  }
  if (isAdapterFolder(folder)) return loadAdapterFolder(folder, finetune, options);

  const encoder = loadBaseModel(folder, folder, options.nameOrPath ?? folder, options);
  try {
    applyHead(encoder, folder, options);
    if (finetune.kind === 'lora') {
      encoder.addLora(finetune.settings);
      encoder.setTrainable('lora');
    } else {
      encoder.setTrainable(finetune.kind);
    }
    return encoder;
  } catch (e) {
    encoder.dispose();
    throw e;
  }
}

async function loadAdapterFolder(
  folder: string,
  finetune: FinetuneMode,
  options: LoadImageEncoderOptions,
): Promise<Dinov2ImageEncoder> {
  const configFile = path.join(folder, ADAPTER_CONFIG_FILE);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ModelConfigError(`${configFile}: cannot read as JSON (${(e as Error).message})`);
  }
  const adapter = parseAdapterConfig(json, configFile);
  const baseRef = adapter.baseModelNameOrPath;
  if (!baseRef)
    throw new LoraError(
      `${configFile}: \`base_model_name_or_path\` is not set, so the base model is unknown; set it to a hub id (e.g. facebook/dinov2-small) or a model folder`,
    );
  let baseFolder: string;
  if (options.resolveBase) baseFolder = await options.resolveBase(baseRef);
  else if (fs.existsSync(path.join(baseRef, 'config.json'))) baseFolder = baseRef;
  else
    throw new LoraError(
      `${configFile}: base model "${baseRef}" is not a local model folder, and no resolver was given to fetch it`,
    );
  if (isAdapterFolder(baseFolder))
    throw new LoraError(
      `${configFile}: the base model "${baseRef}" is itself an adapter (${baseFolder}); stacked adapters are not supported`,
    );

  // The adapter folder's preprocessor_config.json (if saved with it) records the size it was trained at.
  const processingFolder = fs.existsSync(path.join(folder, 'preprocessor_config.json')) ? folder : baseFolder;
  const encoder = loadBaseModel(baseFolder, processingFolder, baseRef, options);
  try {
    let settings = adapter.settings;
    if (finetune.kind === 'lora') {
      const wanted = finetune.settings;
      if (wanted.r !== settings.r || wanted.alpha !== settings.alpha) {
        throw new LoraError(
          `${configFile}: the adapter has r=${settings.r}, lora_alpha=${settings.alpha}, but training asks for r=${wanted.r}, lora_alpha=${wanted.alpha}; use the adapter's values or start from the base model`,
        );
      }
      const have = selectLoraModules(encoder.modulePaths(), settings.targetModules).join(',');
      const want = selectLoraModules(encoder.modulePaths(), wanted.targetModules).join(',');
      if (have !== want)
        throw new LoraError(
          `${configFile}: the adapter's target_modules ${JSON.stringify(settings.targetModules)} select other layers than the requested ${JSON.stringify(wanted.targetModules)}`,
        );
      settings = { ...settings, dropout: wanted.dropout };
    }
    attachSavedAdapters(encoder, folder, settings);
    applyHead(encoder, folder, options);
    if (finetune.kind === 'full') {
      encoder.mergeLora();
      encoder.setTrainable('full');
    } else {
      encoder.setTrainable(finetune.kind);
    }
    return encoder;
  } catch (e) {
    encoder.dispose();
    throw e;
  }
}

function attachSavedAdapters(encoder: Dinov2ImageEncoder, folder: string, settings: LoraSettings): void {
  const file = path.join(folder, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(file)) {
    const bin = fs.existsSync(path.join(folder, 'adapter_model.bin'));
    throw new LoraError(
      `${folder}: no ${ADAPTER_WEIGHTS_FILE}${bin ? ' (only adapter_model.bin, a pickle this engine cannot read; re-save it with safe_serialization=True)' : ''}`,
    );
  }
  const weights = SafetensorsFile.open(file);
  try {
    const used = new Set<string>();
    const read = (key: string, shape: number[]): Float32Array => {
      if (!weights.has(key))
        throw new LoraError(`${file}: no tensor "${key}"; the adapter does not fit this base model`);
      const got = weights.info(key).shape;
      if (got.join(',') !== shape.join(','))
        throw new LoraError(
          `${file}: tensor "${key}" has shape [${got.join(', ')}], expected [${shape.join(', ')}] (r=${settings.r})`,
        );
      used.add(key);
      return weights.read(key);
    };
    // An adapter names its modules as transformers 4.x or 5.x did (moduleNames.ts): read whichever the file holds.
    const keyOf = (modulePath: string, which: 'A' | 'B'): string => {
      const candidates = [peftKey(modulePath, which, 'transformers4')];
      if (toTransformers5Path(modulePath) !== null) candidates.push(peftKey(modulePath, which, 'transformers5'));
      return candidates.find((k) => weights.has(k)) ?? candidates[candidates.length - 1];
    };
    encoder.addLora(settings, (modulePath) => {
      const [inF, outF] = encoder.linearShape(modulePath);
      return {
        a: read(keyOf(modulePath, 'A'), [settings.r, inF]),
        b: read(keyOf(modulePath, 'B'), [outF, settings.r]),
      };
    });
    const extra = weights.names().filter((n) => !used.has(n));
    if (extra.length > 0) {
      const split = extra.some((n) => /\.mlp\.(?:gate_proj|up_proj)\./.test(n));
      throw new LoraError(
        `${file}: holds ${extra.length} tensor(s) that no adapted layer uses, e.g. "${extra[0]}"; ${split ? "adapters on transformers 5's split SwiGLU input layers (gate_proj, up_proj) cannot be loaded: this engine keeps them fused (weights_in)" : "adapter_config.json's target_modules does not match the weights"}`,
      );
    }
  } finally {
    weights.close();
  }
}

function applyHead(encoder: Dinov2ImageEncoder, folder: string, options: LoadImageEncoderOptions): void {
  const head = readEmbeddingHead(folder, encoder.config.hiddenSize);
  encoder.pooling = options.pooling ?? head?.pooling ?? 'cls';
  const wanted = options.projectionDim ?? null;
  if (head?.projection) {
    if (wanted !== null && wanted !== head.projection.dim) {
      throw new ModelConfigError(
        `${folder}: its projection head maps to ${head.projection.dim} dimensions, but projection_dim is ${wanted}; use ${head.projection.dim} or start from the base model`,
      );
    }
    encoder.setProjectionHead(head.projection.dim, head.projection.weight);
  } else if (wanted !== null) {
    encoder.setProjectionHead(wanted);
  }
}

/** Open the model's safetensors file(s) and build the encoder from them. */
function loadBaseModel(
  folder: string,
  processingFolder: string,
  nameOrPath: string,
  options: LoadImageEncoderOptions,
): Dinov2ImageEncoder {
  const config = readDinov2Config(folder);
  const { processing, raw } = readImageProcessing(processingFolder, {
    patchSize: config.patchSize,
    imageSize: options.imageSize,
  });
  const files = openWeights(folder);
  try {
    return new Dinov2ImageEncoder(
      {
        config,
        processing,
        preprocessorRaw: raw,
        pooling: options.pooling ?? 'cls',
        nameOrPath,
        seed: options.seed ?? 0,
      },
      checkpointReader(files, config),
    );
  } finally {
    for (const f of new Set(files.values())) f.close();
  }
}

/** Tensor name -> the open file holding it. */
function openWeights(folder: string): Map<string, SafetensorsFile> {
  const single = path.join(folder, MODEL_WEIGHTS_FILE);
  const index = path.join(folder, MODEL_INDEX_FILE);
  const byName = new Map<string, SafetensorsFile>();
  if (fs.existsSync(single)) {
    const f = SafetensorsFile.open(single);
    for (const n of f.names()) byName.set(n, f);
    return byName;
  }
  if (fs.existsSync(index)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
      if (!weightMap || typeof weightMap !== 'object') throw new Error('no "weight_map" object');
    } catch (e) {
      throw new ModelConfigError(`${index}: cannot read (${(e as Error).message})`);
    }
    const opened = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shard] of Object.entries(weightMap)) {
        let f = opened.get(shard);
        if (!f) {
          f = SafetensorsFile.open(path.join(folder, shard));
          opened.set(shard, f);
        }
        byName.set(name, f);
      }
    } catch (e) {
      for (const f of opened.values()) f.close();
      throw e;
    }
    return byName;
  }
  const bin = fs.existsSync(path.join(folder, 'pytorch_model.bin'));
  throw new ModelConfigError(
    `${folder}: no ${MODEL_WEIGHTS_FILE}${bin ? ' (only pytorch_model.bin, a pickle this engine cannot read; convert it with transformers: model.save_pretrained(dir, safe_serialization=True))' : ''}`,
  );
}

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function checkpointReader(files: Map<string, SafetensorsFile>, config: Dinov2Config): TensorReader {
  const prefix = BACKBONE_PREFIXES.find((p) => files.has(`${p}embeddings.cls_token`)) ?? '';
  return (spec: ParamSpec) => {
    const name = prefix + spec.name;
    const file = files.get(name);
    if (!file) {
      if (spec.fallback) return null;
      throw new ModelConfigError(
        `${[...new Set(files.values())].map((f) => f.file).join(', ') || 'checkpoint'}: no tensor "${name}"; the weights do not match config.json (${config.modelType}, ${config.numHiddenLayers} layers)`,
      );
    }
    const got = file.info(name).shape;
    if (shapeText(got) !== shapeText(spec.hfShape)) {
      throw new ModelConfigError(
        `${file.file}: tensor "${name}" has shape ${shapeText(got)}, but config.json (hidden_size ${config.hiddenSize}, patch_size ${config.patchSize}, image_size ${config.imageSize}) implies ${shapeText(spec.hfShape)}`,
      );
    }
    return file.read(name);
  };
}
