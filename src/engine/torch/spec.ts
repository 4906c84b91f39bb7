/**
 * The run spec the torch engine's ranks read (python/vembed_torch/spec.py): which model to build and which
 * tensors train, named both as vembed stores them (checkpoints, the optimizer file) and as transformers 5 /
 * peft name them, with vembed's stored layout (model/params.ts) so the state exchanged with the ranks is in
 * vembed's names and layouts. The maths that has a TypeScript description (data, pixels, loss, schedule,
 * evaluation) stays here; the spec carries only what building the same model and the same update needs.
 */
import type { TrainConfig } from '../../shared/config/schema';
import { UserError } from '../../shared/userError';
import { PROJECTION_WEIGHT, type Dinov2ImageEncoder } from '../model';
import { paramSpecs, type Layout } from '../model/params';
import { toTransformers5Path } from '../model/moduleNames';
import { isExcludedFromWeightDecay } from '../train';

export const SPEC_VERSION = 1;

export interface SpecParam {
  /** vembed's name (trainableVariables(), checkpoints, optimizer.safetensors). */
  name: string;
  /** The PyTorch parameter(s): transformers 5 / peft names without peft's prefix; several joined by `|`. */
  torch: string;
  layout: Layout;
  decay: boolean;
}

export interface TorchRunSpec {
  version: typeof SPEC_VERSION;
  model_dir: string;
  start_state: string;
  exchange_dir: string;
  image_size: number;
  pooling: 'cls' | 'mean';
  projection_dim: number | null;
  lora: { r: number; alpha: number; dropout: number; modules: string[] } | null;
  params: SpecParam[];
  weight_decay: number;
  max_grad_norm: number;
  chunk_size: number;
  use_gradient_cache: boolean;
  mixed_precision: 'no' | 'bf16' | 'fp16';
  seed: number;
  device: string;
}

const LORA_SUFFIX = /^(.*)\.lora_([AB])\.weight$/;

/** transformers 5's module path of an engine (4.x) module, or why the torch engine cannot train it. */
function modulePath5(path4: string): string[] {
  const p5 = toTransformers5Path(path4);
  if (p5 !== null) return [p5];
  // SwiGLU's fused input projection is gate_proj then up_proj in transformers 5 (its output's two halves).
  if (path4.endsWith('.mlp.weights_in')) {
    const prefix = path4.slice(0, -'weights_in'.length);
    return [`${prefix}gate_proj`, `${prefix}up_proj`];
  }
  throw new Error(`\`${path4}\` has no counterpart in transformers 5`);
}

/** The trainable tensors of `encoder` as the spec lists them, in trainableVariables() order. */
export function specParams(encoder: Dinov2ImageEncoder): SpecParam[] {
  const layouts = new Map(paramSpecs(encoder.config).map((s) => [s.name, s.layout] as const));
  const out: SpecParam[] = [];
  for (const name of encoder.trainableVariables().keys()) {
    const decay = !isExcludedFromWeightDecay(name);
    if (name === PROJECTION_WEIGHT) {
      out.push({ name, torch: 'projection.weight', layout: 'linear', decay });
      continue;
    }
    const lora = LORA_SUFFIX.exec(name);
    if (lora) {
      const paths = modulePath5(lora[1]!);
      if (paths.length > 1)
        throw new UserError(
          `the torch engine cannot put a LoRA adapter on ${lora[1]} (SwiGLU's fused weights_in is two layers in transformers 5).`,
          'Leave weights_in out of lora_target_modules, or train with --engine onnx.',
          'torch-engine',
        );
      // vembed stores A as [in, r] and B as [r, out]: PyTorch's transposed.
      out.push({ name, torch: `${paths[0]}.lora_${lora[2]}.weight`, layout: 'linear', decay });
      continue;
    }
    const layout = layouts.get(name);
    if (layout === undefined) throw new Error(`trainable tensor ${name} is not one of DINOv2's parameters`);
    const dot = name.lastIndexOf('.');
    const torch = modulePath5(name.slice(0, dot))
      .map((m) => `${m}${name.slice(dot)}`)
      .join('|');
    out.push({ name, torch, layout, decay });
  }
  return out;
}

/** The LoRA part of the spec: peft's settings and the adapted modules' full transformers 5 paths. */
export function specLora(encoder: Dinov2ImageEncoder): TorchRunSpec['lora'] {
  const settings = encoder.loraSettings;
  if (!settings || encoder.trainableSet !== 'lora') return null;
  return {
    r: settings.r,
    alpha: settings.alpha,
    dropout: settings.dropout,
    modules: encoder.loraModules().map((m) => modulePath5(m)[0]!),
  };
}

export function buildSpec(
  config: TrainConfig,
  encoder: Dinov2ImageEncoder,
  where: { modelDir: string; startState: string; exchangeDir: string; device: string },
): TorchRunSpec {
  return {
    version: SPEC_VERSION,
    model_dir: where.modelDir,
    start_state: where.startState,
    exchange_dir: where.exchangeDir,
    image_size: encoder.processing.imageSize,
    pooling: config.pooling_method as 'cls' | 'mean',
    projection_dim: encoder.projectionDim,
    lora: specLora(encoder),
    params: specParams(encoder),
    weight_decay: config.weight_decay,
    max_grad_norm: config.max_grad_norm,
    chunk_size: config.gradient_cache_chunk_size,
    use_gradient_cache: config.use_gradient_cache,
    mixed_precision: config.mixed_precision as TorchRunSpec['mixed_precision'],
    seed: config.seed,
    device: where.device,
  };
}
