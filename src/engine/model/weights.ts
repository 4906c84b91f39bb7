/**
 * DINOv2's parameters, as every form of the model reads them: the paper
 * version (dinov2Paper.ts), the fast version with hand-written gradients
 * (dinov2.ts) and the ONNX graph (onnx/dinov2Graph.ts). The encoder
 * (encoder.ts) builds them from Variables named by their Hugging Face names.
 */
import type { Variable } from '../backend/tf';

/** A LoRA update of a linear layer: y += scale · (dropout(x) A) B. */
export interface LoraAdapter {
  /** [in, r] (PEFT's lora_A.weight transposed). */
  a: Variable;
  /** [r, out] (PEFT's lora_B.weight transposed). */
  b: Variable;
  scale: number;
  dropout: number;
  /** Position among the model's adapters: picks this adapter's dropout seed. */
  index: number;
}

/** y = x W + b (+ the LoRA update). */
export interface Linear {
  /** Module path, e.g. `encoder.layer.0.attention.attention.query`. */
  path: string;
  /** [in, out]: PyTorch's [out, in] transposed, so the forward is a plain matMul. */
  weight: Variable;
  /** [out] */
  bias: Variable | null;
  lora: LoraAdapter | null;
}

/** LayerNorm's affine parameters, [D] each. */
export interface Norm {
  weight: Variable;
  bias: Variable;
}

/** The MLP (fc1, GELU, fc2) or, in the SwiGLU variants, SwiGLUFFN (weights_in, SiLU gate, weights_out). */
export type Mlp =
  { kind: 'gelu'; fc1: Linear; fc2: Linear } | { kind: 'swiglu'; weightsIn: Linear; weightsOut: Linear };

/** One transformer block (Hugging Face's Dinov2Layer). */
export interface Layer {
  norm1: Norm;
  query: Linear;
  key: Linear;
  value: Linear;
  /** attention.output.dense */
  output: Linear;
  /** LayerScale of the attention branch, [D]. */
  layerScale1: Variable;
  norm2: Norm;
  mlp: Mlp;
  /** LayerScale of the MLP branch, [D]. */
  layerScale2: Variable;
}

export interface Dinov2Weights {
  /** [1, 1, D] */
  clsToken: Variable;
  /** [1, R, D], registers variant only. */
  registerTokens: Variable | null;
  /** [1, 1 + g*g, D] for the training grid g = image_size / patch_size. */
  positionEmbeddings: Variable;
  /** Conv as a linear layer: weight [p*p*C, D], rows ordered (ky, kx, c). */
  patchProjection: Linear;
  layers: Layer[];
  /** The final LayerNorm. */
  layernorm: Norm;
}

/** Every Variable a linear layer reads. */
export function linearParams(l: Linear): Variable[] {
  return [l.weight, ...(l.bias ? [l.bias] : []), ...(l.lora ? [l.lora.a, l.lora.b] : [])];
}

/** Every Variable a layer reads. */
export function layerParams(layer: Layer): Variable[] {
  const mlpLinears =
    layer.mlp.kind === 'gelu' ? [layer.mlp.fc1, layer.mlp.fc2] : [layer.mlp.weightsIn, layer.mlp.weightsOut];
  return [
    layer.norm1.weight,
    layer.norm1.bias,
    ...[layer.query, layer.key, layer.value, layer.output, ...mlpLinears].flatMap(linearParams),
    layer.layerScale1,
    layer.norm2.weight,
    layer.norm2.bias,
    layer.layerScale2,
  ];
}
