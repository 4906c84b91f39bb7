/**
 * DINOv2 as the paper describes it (Oquab et al. 2023, "DINOv2: Learning
 * Robust Visual Features without Supervision"; registers: Darcet et al. 2023,
 * "Vision Transformers Need Registers"), one function per concept, in plain
 * tf ops that tfjs differentiates on its own.
 *
 * This is the model's description, and the reference the rest is checked
 * against: the fast version (dinov2.ts, the same functions with hand-written
 * gradients) must give its values (test/engine/model/reference.test.ts) and
 * its gradients (gradients.test.ts), and it gives PyTorch's values on the
 * fixtures. Training does not run it: tfjs' own gradients are slow on wasm
 * (transposed matMuls) and keep every intermediate until the backward pass
 * ends.
 *
 * Details as Hugging Face's modeling_dinov2.py (see dinov2.ts for the commit):
 * pre-norm blocks with LayerScale, exact GELU, position embeddings resized
 * bicubically to the image's patch grid, registers after CLS, dropout and
 * drop-path off (0 in every published config). LoRA updates are applied
 * without dropout.
 *
 * Shapes: n images of H x W pixels and C channels; patch size p; patch grid
 * gh x gw = H/p x W/p; R register tokens; T = 1 + R + gh*gw tokens; hidden
 * size D = heads * dh.
 */
import { tf, type Tensor, type Tensor2D, type Tensor3D, type Tensor4D, type Variable } from '../backend/tf';
import type { Dinov2Config } from './config';
import { gridResizeMatrix } from './interpolate';
import type { Dinov2Weights, Layer, Linear, Mlp, Norm } from './weights';

export type PoolingMethod = 'cls' | 'mean';

/** x W + b, plus the LoRA update scale · (x A) B: [n, T, in] -> [n, T, out]. */
export function linearLayer(x: Tensor3D, l: Linear): Tensor3D {
  const [n, T, width] = x.shape;
  const rows: Tensor2D = tf.reshape(x, [n * T, width]);
  let y = tf.matMul(rows, l.weight);
  if (l.bias) y = tf.add(y, l.bias);
  if (l.lora) y = tf.add(y, tf.mul(tf.matMul(tf.matMul(rows, l.lora.a), l.lora.b), l.lora.scale));
  return tf.reshape(y, [n, T, l.weight.shape[1]!]);
}

/** LayerNorm over the last axis (biased variance, eps inside the root): [..., D] -> [..., D]. */
export function layerNorm<T extends Tensor>(x: T, norm: Norm, eps: number): T {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), norm.weight), norm.bias);
}

// ------------------------------------------------------------------ embeddings

/**
 * Patch embeddings: the p x p, stride p convolution, written as cutting the
 * image into patches and one linear layer. [n, H, W, C] -> [n, gh*gw, D].
 */
export function patchEmbeddings(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config): Tensor3D {
  const [n, height, width, channels] = pixels.shape;
  const p = c.patchSize;
  const [gh, gw] = [height / p, width / p];
  // [n, H, W, C] = [n*gh, p, gw, p*C] -> [n*gh, gw, p, p*C]: patch (row, column) holds its (ky, kx, c) values.
  const patches = tf.transpose(tf.reshape(pixels, [n * gh, p, gw, p * channels]), [0, 2, 1, 3]);
  return linearLayer(tf.reshape(patches, [n, gh * gw, p * p * channels]), w.patchProjection);
}

/**
 * Position embeddings for a gh x gw grid: [1, 1 + g*g, D] trained for a g x g
 * grid -> [1 + gh*gw, D]. The CLS entry is kept; the grid is resized
 * bicubically (antialiased in the registers variant), unless it already fits.
 */
export function interpolatePositionEmbeddings(pos: Variable, c: Dinov2Config, gh: number, gw: number): Tensor2D {
  const [, count, D] = pos.shape as [number, number, number];
  const table: Tensor2D = tf.reshape(pos, [count, D]);
  const g = Math.round(Math.sqrt(count - 1));
  if (g * g === gh * gw && gh === gw) return table;
  const cls = tf.slice(table, [0, 0], [1, D]);
  const grid = tf.slice(table, [1, 0], [g * g, D]); // [g*g, D], row-major (y, x)
  // flat(resized) = K · flat(grid) per channel, K = kron(Rh, Rw): [gh*gw, g*g].
  const antialias = c.modelType === 'dinov2_with_registers';
  const resize = tf.tensor2d(gridResizeMatrix(g, g, gh, gw, antialias), [gh * gw, g * g]);
  const resized: Tensor2D = tf.matMul(resize, grid);
  return tf.concat([cls, resized], 0);
}

/**
 * Embeddings: [CLS, patches] + position embeddings, then the register tokens
 * right after CLS (they get no position). [n, H, W, C] -> [n, T, D].
 */
export function embeddings(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config): Tensor3D {
  const [n, height, width] = pixels.shape;
  const [gh, gw] = [height / c.patchSize, width / c.patchSize];
  const patches = patchEmbeddings(pixels, w, c); // [n, gh*gw, D]
  const cls = tf.tile(w.clsToken, [n, 1, 1]); // [n, 1, D]
  const pos = interpolatePositionEmbeddings(w.positionEmbeddings, c, gh, gw); // [1 + gh*gw, D]
  const tokens: Tensor3D = tf.add(tf.concat([cls, patches], 1), pos); // [n, 1 + gh*gw, D]
  if (!w.registerTokens) return tokens;
  const registers = tf.tile(w.registerTokens as Tensor3D, [n, 1, 1]); // [n, R, D]
  const [first, rest] = tf.split<Tensor3D>(tokens, [1, gh * gw], 1);
  return tf.concat([first!, registers, rest!], 1);
}

// ------------------------------------------------------------------ the block

/**
 * Multi-head self-attention and its output projection:
 *   softmax(q kᵀ / sqrt(dh)) v per head, heads concatenated, then `output`.
 * [n, T, D] -> [n, T, D].
 */
export function attention(x: Tensor3D, layer: Layer, c: Dinov2Config): Tensor3D {
  const [n, T, D] = x.shape;
  const heads = c.numAttentionHeads;
  const dh = D / heads;
  // [n, T, D] -> [n*heads, T, dh]
  const byHead = (t: Tensor3D): Tensor3D =>
    tf.reshape(tf.transpose(tf.reshape(t, [n, T, heads, dh]), [0, 2, 1, 3]), [n * heads, T, dh]);
  const q = byHead(linearLayer(x, layer.query));
  const k = byHead(linearLayer(x, layer.key));
  const v = byHead(linearLayer(x, layer.value));
  const probs = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh))); // [n*heads, T, T]
  const perHead = tf.matMul(probs, v); // [n*heads, T, dh]
  const joined: Tensor3D = tf.reshape(tf.transpose(tf.reshape(perHead, [n, heads, T, dh]), [0, 2, 1, 3]), [n, T, D]);
  return linearLayer(joined, layer.output);
}

/** Exact GELU, x · Φ(x) with Φ from erf (not the tanh approximation). */
export function gelu<T extends Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** SwiGLU gate: [x1 | x2] -> SiLU(x1) · x2, [..., 2h] -> [..., h]. */
export function swiglu<T extends Tensor>(x: T): T {
  const [x1, x2] = tf.split(x, 2, -1);
  return tf.mul(tf.mul(x1!, tf.sigmoid(x1!)), x2!);
}

/** The MLP, fc2(GELU(fc1(x))), or SwiGLUFFN, weights_out(SwiGLU(weights_in(x))): [n, T, D] -> [n, T, D]. */
export function mlp(x: Tensor3D, m: Mlp): Tensor3D {
  if (m.kind === 'gelu') return linearLayer(gelu(linearLayer(x, m.fc1)), m.fc2);
  return linearLayer(swiglu(linearLayer(x, m.weightsIn)), m.weightsOut);
}

/** LayerScale: a learned factor per channel, x · λ with λ [D]. */
export function layerScale(x: Tensor3D, lambda: Variable): Tensor3D {
  return tf.mul(x, lambda);
}

/**
 * A transformer block (Dinov2Layer), pre-norm, LayerScale on both branches:
 *   x1 = x + ls1 · attention(norm1(x));  y = x1 + ls2 · mlp(norm2(x1)).
 * [n, T, D] -> [n, T, D].
 */
export function block(x: Tensor3D, layer: Layer, c: Dinov2Config): Tensor3D {
  const x1: Tensor3D = tf.add(
    x,
    layerScale(attention(layerNorm(x, layer.norm1, c.layerNormEps), layer, c), layer.layerScale1),
  );
  return tf.add(x1, layerScale(mlp(layerNorm(x1, layer.norm2, c.layerNormEps), layer.mlp), layer.layerScale2));
}

// ------------------------------------------------------------------ the model

/** The encoder: the blocks in turn, then the final LayerNorm. [n, T, D] -> [n, T, D]. */
export function encoder(tokens: Tensor3D, w: Dinov2Weights, c: Dinov2Config): Tensor3D {
  const h = w.layers.reduce((x, layer) => block(x, layer, c), tokens);
  return layerNorm(h, w.layernorm, c.layerNormEps);
}

/** The whole model: pixels [n, H, W, C] (normalised) -> last_hidden_state [n, T, D]. */
export function dinov2(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config): Tensor3D {
  return encoder(embeddings(pixels, w, c), w, c);
}

/**
 * Pooling: the CLS token (Hugging Face's pooler_output) or the mean of the
 * patch tokens (CLS and registers left out). [n, T, D] -> [n, D].
 */
export function pool(lastHiddenState: Tensor3D, method: PoolingMethod, numRegisterTokens: number): Tensor2D {
  const [n, T, D] = lastHiddenState.shape;
  if (method === 'cls') return tf.reshape(tf.slice(lastHiddenState, [0, 0, 0], [n, 1, D]), [n, D]);
  const first = 1 + numRegisterTokens;
  return tf.mean(tf.slice(lastHiddenState, [0, first, 0], [n, T - first, D]), 1);
}

/**
 * An image's embedding: the pooled output, through the optional bias-free
 * projection head [D, P]. [n, H, W, C] -> [n, D or P].
 */
export function dinov2Embedding(
  pixels: Tensor4D,
  w: Dinov2Weights,
  c: Dinov2Config,
  method: PoolingMethod,
  head: Variable | null,
): Tensor2D {
  const pooled = pool(dinov2(pixels, w, c), method, c.numRegisterTokens);
  return head ? tf.matMul(pooled, head) : pooled;
}
