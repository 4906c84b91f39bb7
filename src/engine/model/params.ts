/**
 * DINOv2's parameters: their Hugging Face names and shapes, and how each is
 * laid out in memory here.
 *
 * Layouts differ from PyTorch's where that makes the forward a plain matMul:
 * - `linear` weights are stored [in, out] (PyTorch: [out, in]);
 * - the patch-embedding conv weight is stored [p*p*C, D], rows ordered
 *   (ky, kx, c) to match NHWC patches (PyTorch: [D, C, p, p]).
 * Everything else is stored as PyTorch stores it. Conversions happen only when
 * loading and saving.
 */
import { tf, type Variable } from '../backend/tf';
import { mlpHiddenSize, type Dinov2Config } from './config';

export type Layout = 'plain' | 'linear' | 'conv';

export interface ParamSpec {
  /** Hugging Face tensor name, e.g. `encoder.layer.0.norm1.weight`. */
  name: string;
  /** Shape as Hugging Face stores it. */
  hfShape: number[];
  layout: Layout;
  /** Whether a full fine-tune trains it (`mask_token` is unused by the forward pass). */
  trainable: boolean;
  /** Value when a checkpoint lacks it (only for tensors the forward pass does not need). */
  fallback?: 'zeros';
}

/** Every tensor of `Dinov2Model` / `Dinov2WithRegistersModel`, in module order. */
export function paramSpecs(c: Dinov2Config): ParamSpec[] {
  const D = c.hiddenSize;
  const grid = c.imageSize / c.patchSize;
  const specs: ParamSpec[] = [];
  const add = (name: string, hfShape: number[], layout: Layout = 'plain', extra: Partial<ParamSpec> = {}): void => {
    specs.push({ name, hfShape, layout, trainable: true, ...extra });
  };
  const addLinear = (prefix: string, inF: number, outF: number, bias: boolean): void => {
    add(`${prefix}.weight`, [outF, inF], 'linear');
    if (bias) add(`${prefix}.bias`, [outF]);
  };
  add('embeddings.cls_token', [1, 1, D]);
  add('embeddings.mask_token', [1, D], 'plain', { trainable: false, fallback: 'zeros' });
  if (c.modelType === 'dinov2_with_registers') add('embeddings.register_tokens', [1, c.numRegisterTokens, D]);
  add('embeddings.position_embeddings', [1, grid * grid + 1, D]);
  add('embeddings.patch_embeddings.projection.weight', [D, c.numChannels, c.patchSize, c.patchSize], 'conv');
  add('embeddings.patch_embeddings.projection.bias', [D]);
  const hidden = mlpHiddenSize(c);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `encoder.layer.${i}`;
    add(`${p}.norm1.weight`, [D]);
    add(`${p}.norm1.bias`, [D]);
    for (const proj of ['query', 'key', 'value']) addLinear(`${p}.attention.attention.${proj}`, D, D, c.qkvBias);
    addLinear(`${p}.attention.output.dense`, D, D, true);
    add(`${p}.layer_scale1.lambda1`, [D]);
    add(`${p}.norm2.weight`, [D]);
    add(`${p}.norm2.bias`, [D]);
    if (c.useSwigluFfn) {
      addLinear(`${p}.mlp.weights_in`, D, 2 * hidden, true);
      addLinear(`${p}.mlp.weights_out`, hidden, D, true);
    } else {
      addLinear(`${p}.mlp.fc1`, D, hidden, true);
      addLinear(`${p}.mlp.fc2`, hidden, D, true);
    }
    add(`${p}.layer_scale2.lambda1`, [D]);
  }
  add('layernorm.weight', [D]);
  add('layernorm.bias', [D]);
  return specs;
}

/** Shape of a parameter as stored here. */
export function storedShape(spec: ParamSpec): number[] {
  const s = spec.hfShape;
  if (spec.layout === 'linear') return [s[1]!, s[0]!];
  if (spec.layout === 'conv') return [s[2]! * s[3]! * s[1]!, s[0]!];
  return [...s];
}

/** PyTorch layout -> ours, as a new float32 tensor. */
export function fromHfLayout(spec: ParamSpec, data: Float32Array): ReturnType<typeof tf.tensor> {
  return tf.tidy(() => {
    const t = tf.tensor(data, spec.hfShape, 'float32');
    if (spec.layout === 'linear') return tf.transpose(t);
    if (spec.layout === 'conv') {
      // [D, C, ky, kx] -> [ky, kx, C, D] -> [ky*kx*C, D]
      const [D, C, ph, pw] = spec.hfShape as [number, number, number, number];
      return tf.reshape(tf.transpose(t, [2, 3, 1, 0]), [ph * pw * C, D]);
    }
    return t;
  });
}

/** Ours -> PyTorch layout, as a Float32Array. */
export function toHfLayout(spec: ParamSpec, value: Variable | ReturnType<typeof tf.tensor>): Float32Array {
  const t = tf.tidy(() => {
    if (spec.layout === 'linear') return tf.transpose(value);
    if (spec.layout === 'conv') {
      const [D, C, ph, pw] = spec.hfShape as [number, number, number, number];
      return tf.transpose(tf.reshape(value, [ph, pw, C, D]), [3, 2, 0, 1]);
    }
    return tf.clone(value);
  });
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}
