/**
 * DINOv2 encoders with random weights, for benchmarks and for tests that need
 * a model but not a checkpoint. Weights are scaled like trained ones (linear
 * weights ~ 1/sqrt(fan_in), norms near 1) so activations stay in range.
 */
import { Rng } from '../util/rng';
import { DINOV2_PROCESSING, parseDinov2Config } from './config';
import type { PoolingMethod } from './dinov2';
import { Dinov2ImageEncoder } from './encoder';
import type { ParamSpec } from './params';

/** The published DINOv2 sizes' config.json fields (patch 14, trained at 518 px). */
export const DINOV2_SIZES = {
  small: { hidden_size: 384, num_hidden_layers: 12, num_attention_heads: 6 },
  base: { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12 },
  large: { hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16 },
  giant: { hidden_size: 1536, num_hidden_layers: 40, num_attention_heads: 24, use_swiglu_ffn: true },
} as const;

/**
 * A random encoder; `config` holds config.json fields over DINOv2-small's
 * (`model_type` dinov2, patch 14, image_size 518, layer_norm_eps 1e-6).
 */
export function randomDinov2Encoder(
  config: Record<string, unknown> = {},
  options: {
    seed?: number;
    pooling?: PoolingMethod;
    /** The crop size (default DINOv2's 224). */
    imageSize?: number;
  } = {},
): Dinov2ImageEncoder {
  const json = {
    model_type: 'dinov2',
    ...DINOV2_SIZES.small,
    mlp_ratio: 4,
    patch_size: 14,
    image_size: 518,
    layer_norm_eps: 1e-6,
    layerscale_value: 1,
    ...config,
  };
  const parsed = parseDinov2Config(json, 'random model config');
  const rng = new Rng(options.seed ?? 0);
  const fill = (spec: ParamSpec): Float32Array => {
    const n = spec.hfShape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    const last = spec.name.split('.').pop();
    if (spec.name.endsWith('mask_token')) return out;
    if (spec.name.includes('norm') && last === 'weight') return out.fill(1);
    if (spec.name.endsWith('lambda1')) return out.fill(parsed.layerscaleValue);
    const fanIn = spec.layout === 'plain' ? 1 : n / spec.hfShape[0]!;
    const bound = last === 'bias' ? 0.02 : spec.layout === 'plain' ? 0.5 : 1 / Math.sqrt(fanIn);
    for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
    return out;
  };
  return new Dinov2ImageEncoder(
    {
      config: parsed,
      processing: { ...DINOV2_PROCESSING, ...(options.imageSize ? { imageSize: options.imageSize } : {}) },
      preprocessorRaw: null,
      pooling: options.pooling ?? 'cls',
      nameOrPath: 'random',
      seed: options.seed ?? 0,
    },
    fill,
  );
}
