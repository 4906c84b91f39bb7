/**
 * A DINOv2 model folder's `config.json` and `preprocessor_config.json`.
 *
 * Field names and defaults follow Hugging Face transformers' `Dinov2Config` /
 * `Dinov2WithRegistersConfig`. The fields that fix the architecture and that
 * every published checkpoint spells out are required; the others default as
 * transformers defaults them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageProcessing } from './types';

export type Dinov2ModelType = 'dinov2' | 'dinov2_with_registers';

export interface Dinov2Config {
  modelType: Dinov2ModelType;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  mlpRatio: number;
  patchSize: number;
  /** Training resolution: the position embeddings cover (imageSize / patchSize)^2 patches. */
  imageSize: number;
  numChannels: number;
  layerNormEps: number;
  layerscaleValue: number;
  useSwigluFfn: boolean;
  qkvBias: boolean;
  /** 0 for plain `dinov2`. */
  numRegisterTokens: number;
  /** The parsed JSON as found, kept so that a saved model carries every field Python expects. */
  raw: Record<string, unknown>;
}

export class ModelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelConfigError';
  }
}

type Json = Record<string, unknown>;

function readJsonFile(file: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelConfigError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ModelConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ModelConfigError(`${file}: expected a JSON object`);
  return value as Json;
}

class FieldReader {
  constructor(
    private readonly json: Json,
    private readonly source: string,
  ) {}

  private fail(key: string, what: string): never {
    throw new ModelConfigError(`${this.source}: \`${key}\` ${what}`);
  }

  /** An integer >= min; `fallback` undefined makes the field required. */
  int(key: string, min: number, fallback?: number): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(key, `is missing; a DINOv2 config.json must set it`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      this.fail(key, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  positive(key: string, fallback?: number): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(key, `is missing; a DINOv2 config.json must set it`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      this.fail(key, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  squareSize(key: string): number {
    // transformers accepts an int or a [h, w] pair; DINOv2 checkpoints use an int.
    const v = this.json[key];
    if (Array.isArray(v) && v.length === 2 && v[0] === v[1]) return this.intValue(key, v[0]);
    if (Array.isArray(v)) this.fail(key, `must be one integer (square); got ${JSON.stringify(v)}`);
    return this.int(key, 1);
  }

  private intValue(key: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      this.fail(key, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }
}

/** Parse a config.json object; `source` names the file in errors. */
export function parseDinov2Config(json: Json, source: string): Dinov2Config {
  const modelType = json.model_type;
  if (modelType !== 'dinov2' && modelType !== 'dinov2_with_registers') {
    throw new ModelConfigError(
      `${source}: \`model_type\` is ${JSON.stringify(modelType)}; this engine runs DINOv2 models only ("dinov2" or "dinov2_with_registers", e.g. facebook/dinov2-small)`,
    );
  }
  const f = new FieldReader(json, source);
  const hiddenAct = json.hidden_act ?? 'gelu';
  if (hiddenAct !== 'gelu')
    throw new ModelConfigError(
      `${source}: \`hidden_act\` is ${JSON.stringify(hiddenAct)}; only "gelu" (exact, erf) is implemented`,
    );
  const config: Dinov2Config = {
    modelType,
    hiddenSize: f.int('hidden_size', 1),
    numHiddenLayers: f.int('num_hidden_layers', 1),
    numAttentionHeads: f.int('num_attention_heads', 1),
    mlpRatio: f.positive('mlp_ratio', 4),
    patchSize: f.squareSize('patch_size'),
    imageSize: f.squareSize('image_size'),
    numChannels: f.int('num_channels', 1, 3),
    layerNormEps: f.positive('layer_norm_eps'),
    layerscaleValue: f.positive('layerscale_value', 1),
    useSwigluFfn: f.bool('use_swiglu_ffn', false),
    qkvBias: f.bool('qkv_bias', true),
    numRegisterTokens: modelType === 'dinov2_with_registers' ? f.int('num_register_tokens', 0, 4) : 0,
    raw: json,
  };
  if (config.hiddenSize % config.numAttentionHeads !== 0) {
    throw new ModelConfigError(
      `${source}: \`hidden_size\` ${config.hiddenSize} is not a multiple of \`num_attention_heads\` ${config.numAttentionHeads}`,
    );
  }
  if (config.imageSize % config.patchSize !== 0) {
    throw new ModelConfigError(
      `${source}: \`image_size\` ${config.imageSize} is not a multiple of \`patch_size\` ${config.patchSize}`,
    );
  }
  if (config.numChannels !== 3)
    throw new ModelConfigError(
      `${source}: \`num_channels\` is ${config.numChannels}; only RGB (3) images are supported`,
    );
  return config;
}

export function readDinov2Config(folder: string): Dinov2Config {
  const file = path.join(folder, 'config.json');
  if (!fs.existsSync(file)) {
    throw new ModelConfigError(
      `${folder}: no config.json; a model folder holds config.json and model.safetensors (the Hugging Face layout)`,
    );
  }
  return parseDinov2Config(readJsonFile(file), file);
}

/** Tokens per image at height x width pixels (multiples of the patch size): CLS, the registers, the patches. */
export function tokensPerImage(config: Dinov2Config, height: number, width: number): number {
  return 1 + config.numRegisterTokens + (height / config.patchSize) * (width / config.patchSize);
}

/** Hidden size of the MLP: `fc1` width, or each half of SwiGLU's `weights_in`. */
export function mlpHiddenSize(config: Dinov2Config): number {
  const hidden = Math.trunc(config.hiddenSize * config.mlpRatio);
  if (!config.useSwigluFfn) return hidden;
  // SwiGLU keeps the parameter count of a 2/3-width pair, rounded up to a multiple of 8.
  return Math.floor((Math.trunc((hidden * 2) / 3) + 7) / 8) * 8;
}

// ------------------------------------------------------------------ preprocessing

/** DINOv2's published preprocessing (BitImageProcessor). */
export const DINOV2_PROCESSING: Readonly<ImageProcessing> = {
  imageSize: 224,
  resizeShortestEdge: 256,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  rescaleFactor: 1 / 255,
};

function triple(v: unknown, key: string, source: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new ModelConfigError(`${source}: \`${key}\` must be a list of 3 numbers (R, G, B), got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1], v[2]];
}

function sizeField(v: unknown, key: string, source: string, names: string[]): number {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const n of names) if (typeof o[n] === 'number') return o[n] as number;
    if (typeof o.height === 'number' && o.height === o.width) return o.height;
  }
  const forms = ['an integer', ...names.map((n) => `{"${n}": N}`), 'a square {"height": N, "width": N}'];
  throw new ModelConfigError(`${source}: \`${key}\` must be ${forms.join(' or ')}; got ${JSON.stringify(v)}`);
}

/**
 * Parse a preprocessor_config.json object (BitImageProcessor fields). Missing
 * fields take DINOv2's values. `imageSize` (the training config's
 * `image_size`) replaces the crop size; the resize edge keeps its ratio to
 * the crop (256/224 for DINOv2).
 */
export function parseImageProcessing(
  json: Json,
  source: string,
  options: { patchSize: number; imageSize?: number | null },
): ImageProcessing {
  const d = DINOV2_PROCESSING;
  const cropSize = json.crop_size === undefined ? d.imageSize : sizeField(json.crop_size, 'crop_size', source, []);
  const resize =
    json.size === undefined ? d.resizeShortestEdge : sizeField(json.size, 'size', source, ['shortest_edge']);
  const doRescale = json.do_rescale !== false;
  const doNormalize = json.do_normalize !== false;
  const doCrop = json.do_center_crop !== false;
  const rescaleFactor = json.rescale_factor === undefined ? d.rescaleFactor : json.rescale_factor;
  if (typeof rescaleFactor !== 'number' || !(rescaleFactor > 0)) {
    throw new ModelConfigError(
      `${source}: \`rescale_factor\` must be a positive number, got ${JSON.stringify(rescaleFactor)}`,
    );
  }
  const mean = doNormalize
    ? json.image_mean === undefined
      ? d.mean
      : triple(json.image_mean, 'image_mean', source)
    : ([0, 0, 0] as [number, number, number]);
  const std = doNormalize
    ? json.image_std === undefined
      ? d.std
      : triple(json.image_std, 'image_std', source)
    : ([1, 1, 1] as [number, number, number]);
  if (std.some((s) => s <= 0))
    throw new ModelConfigError(`${source}: \`image_std\` must be positive, got ${JSON.stringify(std)}`);

  const baseCrop = doCrop ? cropSize : resize;
  const ratio = resize / baseCrop;
  const imageSize = options.imageSize ?? baseCrop;
  if (!Number.isInteger(imageSize) || imageSize <= 0 || imageSize % options.patchSize !== 0) {
    const from = options.imageSize != null ? "the training config's `image_size`" : `${source}'s crop size`;
    throw new ModelConfigError(
      `${from} is ${imageSize}; it must be a positive multiple of the patch size ${options.patchSize} (e.g. ${Math.max(1, Math.round(imageSize / options.patchSize)) * options.patchSize})`,
    );
  }
  return {
    imageSize,
    resizeShortestEdge: options.imageSize != null ? Math.round(imageSize * ratio) : resize,
    mean,
    std,
    rescaleFactor: doRescale ? rescaleFactor : 1,
  };
}

/** Read a folder's preprocessor_config.json (DINOv2 defaults when there is none). */
export function readImageProcessing(
  folder: string,
  options: { patchSize: number; imageSize?: number | null },
): { processing: ImageProcessing; raw: Json | null } {
  const file = path.join(folder, 'preprocessor_config.json');
  const raw = fs.existsSync(file) ? readJsonFile(file) : null;
  return {
    processing: parseImageProcessing(
      raw ?? {},
      raw ? file : `${folder} (no preprocessor_config.json, DINOv2 defaults)`,
      options,
    ),
    raw,
  };
}

/** The preprocessor_config.json to save with a model: the original, updated to what the model now expects. */
export function imageProcessingJson(processing: ImageProcessing, raw: Json | null): Json {
  const base: Json = raw
    ? { ...raw }
    : {
        do_center_crop: true,
        do_convert_rgb: true,
        do_normalize: true,
        do_rescale: true,
        do_resize: true,
        image_processor_type: 'BitImageProcessor',
        resample: 3,
      };
  return {
    ...base,
    crop_size: { height: processing.imageSize, width: processing.imageSize },
    size: { shortest_edge: processing.resizeShortestEdge },
    image_mean: [...processing.mean],
    image_std: [...processing.std],
    rescale_factor: processing.rescaleFactor,
    do_center_crop: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
  };
}

/**
 * config.json fields that transformers types as float. JSON in JavaScript has
 * one number type, so 1.0 read from a file is written back as `1`, and
 * transformers 5 refuses an int there ("Field 'layerscale_value' expected
 * float, got int"): DINOv2's own configs hold layerscale_value 1.0 and
 * dropout rates 0.0.
 */
const FLOAT_CONFIG_FIELDS = new Set([
  'layerscale_value',
  'layer_norm_eps',
  'drop_path_rate',
  'hidden_dropout_prob',
  'attention_probs_dropout_prob',
  'initializer_range',
]);

/** config.json's text, with integral values of float fields written as floats (`1.0`), as Python writes them. */
export function configJsonText(config: Record<string, unknown>): string {
  const marker = '\u0000float:';
  const text = JSON.stringify(
    config,
    (key, value: unknown) =>
      FLOAT_CONFIG_FIELDS.has(key) && typeof value === 'number' && Number.isInteger(value)
        ? `${marker}${value}`
        : value,
    2,
  );
  // The marker is a string JSON.stringify escapes as \u0000float:N; put the bare float in its place.
  return text.replace(/"\\u0000float:(-?\d+)"/g, '$1.0') + '\n';
}
