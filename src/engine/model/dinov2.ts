/**
 * The DINOv2 forward pass (Hugging Face `Dinov2Model` and
 * `Dinov2WithRegistersModel`), one function per block.
 *
 * Matched against huggingface/transformers at commit 015e68769f98
 * (src/transformers/models/dinov2/modeling_dinov2.py and
 * dinov2_with_registers/modeling_dinov2_with_registers.py):
 * - position embeddings are resized with `interpolate(size=(H/p, W/p),
 *   mode="bicubic", align_corners=False)` (explicit size, no +0.1 offset and
 *   no scale_factor, unlike older releases), `antialias=True` for the
 *   registers variant, skipped when the patch count matches and H == W;
 * - register tokens go right after CLS, after position embeddings are added;
 * - Layer: x + ls1 * attn(norm1(x)), then + ls2 * mlp(norm2(x)); every
 *   LayerNorm uses `layer_norm_eps`; exact GELU; SwiGLU hidden size
 *   (int(int(D * mlp_ratio) * 2 / 3) + 7) // 8 * 8, first half through SiLU;
 * - dropout and drop-path are identity (0 in every published config).
 *
 * Activations inside the encoder are kept 2-D, [n * T, D] (T = tokens per
 * image), so that every linear layer is one matMul. Each layer runs as one
 * custom op whose backward pass is written out below (autograd.ts says why).
 */
import { tf, type Tensor2D, type Tensor3D, type Tensor4D, type Variable } from '../backend/tf';
import { stepOp, type ParamGrads, type Saved, type Step } from './autograd';
import type { Dinov2Config } from './config';
import { gridResizeMatrix } from './interpolate';
import {
  attentionStep,
  clsAttentionStep,
  geluStep,
  layerNormStep,
  linear,
  linearStep,
  matMul,
  scaleStep,
  swigluStep,
  type Linear,
  type Norm,
  type StepContext,
} from './ops';

export type { LoraAdapter, Linear, Norm } from './ops';

export type Mlp =
  { kind: 'gelu'; fc1: Linear; fc2: Linear } | { kind: 'swiglu'; weightsIn: Linear; weightsOut: Linear };

export interface Layer {
  norm1: Norm;
  query: Linear;
  key: Linear;
  value: Linear;
  /** attention.output.dense */
  output: Linear;
  layerScale1: Variable;
  norm2: Norm;
  mlp: Mlp;
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
  layernorm: Norm;
}

export interface ForwardContext extends StepContext {
  /** Position embeddings for a grid: [1 + gh*gw, D]; the encoder caches them when frozen. */
  positionEmbeddings(gh: number, gw: number): Tensor2D;
}

// ------------------------------------------------------------------ blocks

/**
 * PatchEmbeddings: the p x p stride-p convolution as patch extraction plus
 * one matMul. pixels [n, H, W, C] -> [n, gh*gw, D].
 */
function patchEmbeddings(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config): Tensor3D {
  const [n, height, width, channels] = pixels.shape;
  const p = c.patchSize;
  const gh = height / p;
  const gw = width / p;
  // [n, H, W, C] = [n*gh, p, gw, p*C] -> [n*gh, gw, p, p*C] -> [n*gh*gw, p*p*C]
  const patches = tf.reshape(tf.transpose(tf.reshape(pixels, [n * gh, p, gw, p * channels]), [0, 2, 1, 3]), [
    n * gh * gw,
    p * p * channels,
  ]) as Tensor2D;
  const { weight, bias } = w.patchProjection;
  return tf.reshape(linear(patches, weight, bias), [n, gh * gw, c.hiddenSize]);
}

/**
 * Position embeddings for a gh x gw grid: [1 + gh*gw, D]. The CLS entry is
 * kept; the patch grid is resized bicubically unless it already fits.
 */
export function resizePositionEmbeddings(pos: Variable, c: Dinov2Config, gh: number, gw: number): Tensor2D {
  const [, count, dim] = pos.shape as [number, number, number];
  const table = tf.reshape(pos, [count, dim]) as Tensor2D;
  const trained = count - 1;
  if (trained === gh * gw && gh === gw) return table;
  const side = Math.round(Math.sqrt(trained));
  const cls = tf.slice(table, [0, 0], [1, dim]);
  const grid = tf.slice(table, [1, 0], [trained, dim]);
  // [gh*gw, side*side] · [side*side, D]: all channels resized by one matMul.
  const resize = tf.tensor2d(gridResizeMatrix(side, side, gh, gw, c.modelType === 'dinov2_with_registers'), [
    gh * gw,
    trained,
  ]);
  const resized = matMul(resize, grid, { a: false, b: pos.trainable });
  return tf.concat([cls, resized], 0);
}

/**
 * Embeddings: [CLS] + patches, plus position embeddings, then registers.
 * pixels [n, H, W, C] -> [n, T, D], T = 1 + R + gh*gw.
 */
function embeddings(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config, ctx: ForwardContext): Tensor3D {
  const [n, height, width] = pixels.shape;
  const D = c.hiddenSize;
  const gh = height / c.patchSize;
  const gw = width / c.patchSize;
  const patches = patchEmbeddings(pixels, w, c); // [n, gh*gw, D]
  const cls = tf.tile(w.clsToken, [n, 1, 1]); // [n, 1, D]
  const pos = tf.reshape(ctx.positionEmbeddings(gh, gw), [1, 1 + gh * gw, D]);
  const tokens = tf.add(tf.concat([cls, patches], 1), pos) as Tensor3D; // [n, 1 + gh*gw, D]
  if (!w.registerTokens) return tokens;
  const registers = tf.tile(w.registerTokens as Tensor3D, [n, 1, 1]); // [n, R, D]
  const first = tf.slice(tokens, [0, 0, 0], [n, 1, D]);
  const rest = tf.slice(tokens, [0, 1, 0], [n, gh * gw, D]);
  return tf.concat([first, registers, rest], 1);
}

/**
 * Dispose an intermediate of a layer's forward pass that no backward pass
 * reads. Safe inside a layer: the ops of a custom op's forward pass are not
 * on the gradient tape.
 */
function freeUnlessKept(t: Tensor2D, saved: Saved): void {
  if (!saved.holds(t)) t.dispose();
}

/**
 * Attention (SelfAttention + output projection): softmax(q kᵀ / sqrt(dh)) v
 * per head, then attention.output.dense. x [n*T, D] -> [n*T, D].
 */
function attentionBlockStep(
  x: Tensor2D,
  n: number,
  layer: Layer,
  c: Dinov2Config,
  ctx: StepContext,
  saved: Saved,
  grads: ParamGrads,
  input?: () => Tensor2D,
): Step<Tensor2D> {
  const dh = c.hiddenSize / c.numAttentionHeads;
  const q = linearStep(x, layer.query, ctx, saved, grads, input); // [n*T, D]
  const k = linearStep(x, layer.key, ctx, saved, grads, input); // [n*T, D]
  const v = linearStep(x, layer.value, ctx, saved, grads, input); // [n*T, D]
  const core = attentionStep(
    q.y,
    k.y,
    v.y,
    n,
    c.numAttentionHeads,
    1 / Math.sqrt(dh),
    saved,
    undefined,
    ctx.recomputeAttention === true,
  );
  freeUnlessKept(q.y, saved);
  const out = linearStep(core.y, layer.output, ctx, saved, grads);
  return {
    y: out.y,
    back: (dy) => {
      const [dq, dk, dv] = core.back(out.back(dy)[0] as Tensor2D) as [Tensor2D, Tensor2D, Tensor2D];
      return [tf.addN([q.back(dq)[0]!, k.back(dk)[0]!, v.back(dv)[0]!])];
    },
  };
}

/** Mlp (fc1, exact GELU, fc2) or SwiGLUFFN (weights_in, SiLU(x1) · x2, weights_out): [N, D] -> [N, D]. */
function mlpStep(
  x: Tensor2D,
  m: Mlp,
  ctx: StepContext,
  saved: Saved,
  grads: ParamGrads,
  input?: () => Tensor2D,
): Step<Tensor2D> {
  const first = linearStep(x, m.kind === 'gelu' ? m.fc1 : m.weightsIn, ctx, saved, grads, input);
  const gate = m.kind === 'gelu' ? geluStep(first.y, saved) : swigluStep(first.y, saved);
  // [N, 4D] intermediates that no backward pass reads go now rather than at the end of the layer.
  freeUnlessKept(first.y, saved);
  const second = linearStep(gate.y, m.kind === 'gelu' ? m.fc2 : m.weightsOut, ctx, saved, grads);
  freeUnlessKept(gate.y, saved);
  return {
    y: second.y,
    back: (dy) => first.back(gate.back(second.back(dy)[0] as Tensor2D)[0] as Tensor2D),
  };
}

/** A layer's second half, with its residual: x1 + ls2 · mlp(norm2(x1)). [N, D] -> [N, D]. */
function mlpHalfStep(
  x1: Tensor2D,
  layer: Layer,
  c: Dinov2Config,
  ctx: StepContext,
  saved: Saved,
  grads: ParamGrads,
): Step<Tensor2D> {
  // The MLP's first linear gets the norm's output again from the norm instead of keeping it.
  const norm2 = layerNormStep(x1, layer.norm2, c.layerNormEps, saved, grads);
  const ffn = mlpStep(norm2.y, layer.mlp, ctx, saved, grads, norm2.output);
  const scaled2 = scaleStep(ffn.y, layer.layerScale2, saved, grads);
  return {
    y: tf.add(x1, scaled2.y),
    back: (dy) => [tf.add(dy, norm2.back(ffn.back(scaled2.back(dy)[0] as Tensor2D)[0] as Tensor2D)[0]!)],
  };
}

/**
 * Layer (a pre-norm transformer block), with LayerScale on both branches:
 *   x1 = x + ls1 · attention(norm1(x));  y = x1 + ls2 · mlp(norm2(x1)).
 * [n*T, D] -> [n*T, D].
 */
function layerStep(
  x: Tensor2D,
  n: number,
  layer: Layer,
  c: Dinov2Config,
  ctx: StepContext,
  saved: Saved,
  grads: ParamGrads,
): Step<Tensor2D> {
  // The attention's linears get norm1's output again from the norm instead of keeping it.
  const norm1 = layerNormStep(x, layer.norm1, c.layerNormEps, saved, grads);
  const attn = attentionBlockStep(norm1.y, n, layer, c, ctx, saved, grads, norm1.output);
  const scaled1 = scaleStep(attn.y, layer.layerScale1, saved, grads);
  const x1 = tf.add(x, scaled1.y) as Tensor2D;
  const second = mlpHalfStep(x1, layer, c, ctx, saved, grads);
  return {
    y: second.y,
    back: (dy) => {
      const dx1 = second.back(dy)[0] as Tensor2D;
      const branch1 = norm1.back(attn.back(scaled1.back(dx1)[0] as Tensor2D)[0] as Tensor2D)[0]!;
      return [tf.add(dx1, branch1)];
    },
  };
}

/** Each image's CLS row (rows 0, T, 2T, ...): [n*T, D] -> [n, D]; its gradient goes back in place, zeros elsewhere. */
function clsRowsStep(x: Tensor2D, n: number): Step<Tensor2D> {
  const [rows, D] = x.shape;
  const T = rows / n;
  return {
    y: tf.reshape(tf.slice(tf.reshape(x, [n, T, D]), [0, 0, 0], [n, 1, D]), [n, D]),
    back: (dy) => [
      tf.reshape(
        tf.pad(tf.reshape(dy, [n, 1, D]), [
          [0, 0],
          [0, T - 1],
          [0, 0],
        ]),
        [rows, D],
      ),
    ],
  };
}

/**
 * The last layer when only the CLS token's output is read (CLS pooling):
 * every token still gives a key and a value, but only CLS asks a query, and
 * the output projection, the MLP and both residuals run on its row alone.
 * Same values as layerStep's CLS rows; for DINOv2-small at 224 px it skips
 * ~7% of the forward pass. [n*T, D] -> [n, D].
 */
function clsLayerStep(
  x: Tensor2D,
  n: number,
  layer: Layer,
  c: Dinov2Config,
  ctx: StepContext,
  saved: Saved,
  grads: ParamGrads,
): Step<Tensor2D> {
  const dh = c.hiddenSize / c.numAttentionHeads;
  const norm1 = layerNormStep(x, layer.norm1, c.layerNormEps, saved, grads); // [n*T, D]
  const k = linearStep(norm1.y, layer.key, ctx, saved, grads, norm1.output); // [n*T, D]
  const v = linearStep(norm1.y, layer.value, ctx, saved, grads, norm1.output); // [n*T, D]
  const clsIn = clsRowsStep(norm1.y, n); // [n, D]
  const q = linearStep(clsIn.y, layer.query, ctx, saved, grads); // [n, D]
  const core = clsAttentionStep(q.y, k.y, v.y, n, c.numAttentionHeads, 1 / Math.sqrt(dh), saved); // [n, D]
  const out = linearStep(core.y, layer.output, ctx, saved, grads);
  const scaled1 = scaleStep(out.y, layer.layerScale1, saved, grads);
  const residual = clsRowsStep(x, n);
  const x1 = tf.add(residual.y, scaled1.y) as Tensor2D; // [n, D]
  const second = mlpHalfStep(x1, layer, c, ctx, saved, grads);
  return {
    y: second.y,
    back: (dy) => {
      const dx1 = second.back(dy)[0] as Tensor2D;
      const [dq, dk, dv] = core.back(out.back(scaled1.back(dx1)[0] as Tensor2D)[0] as Tensor2D) as Tensor2D[];
      const dNorm1 = tf.addN([
        k.back(dk!)[0]!,
        v.back(dv!)[0]!,
        clsIn.back(q.back(dq!)[0] as Tensor2D)[0]!,
      ]) as Tensor2D;
      return [tf.add(norm1.back(dNorm1)[0]!, residual.back(dx1)[0]!)];
    },
  };
}

function linearParams(l: Linear): Variable[] {
  return [l.weight, ...(l.bias ? [l.bias] : []), ...(l.lora ? [l.lora.a, l.lora.b] : [])];
}

/** Every Variable a layer reads. */
function layerParams(layer: Layer): Variable[] {
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

/** Encoder: a stack of layers, each one node on the gradient tape. */
function encoder(x: Tensor2D, n: number, layers: readonly Layer[], c: Dinov2Config, ctx: ForwardContext): Tensor2D {
  let h = x;
  for (const layer of layers) {
    h = stepOp(
      [h],
      layerParams(layer),
      ([input], saved, grads) => layerStep(input as Tensor2D, n, layer, c, ctx, saved, grads) as Step,
    ) as Tensor2D;
  }
  return h;
}

/** The final layernorm, as one node on the tape: [N, D] -> [N, D]. */
function finalNorm(h: Tensor2D, w: Dinov2Weights, c: Dinov2Config): Tensor2D {
  return stepOp(
    [h],
    [w.layernorm.weight, w.layernorm.bias],
    ([x], saved, grads) => layerNormStep(x as Tensor2D, w.layernorm, c.layerNormEps, saved, grads) as Step,
  ) as Tensor2D;
}

/** Token embeddings after checking the input: pixels [n, H, W, C] -> [n*T, D] and T. */
function inputTokens(
  pixels: Tensor4D,
  w: Dinov2Weights,
  c: Dinov2Config,
  ctx: ForwardContext,
): { tokens: Tensor2D; T: number } {
  const [n, height, width, channels] = pixels.shape;
  const p = c.patchSize;
  if (height % p !== 0 || width % p !== 0) {
    throw new Error(
      `image size ${height}x${width} is not a multiple of the patch size ${p}; resize or crop the images to a multiple of ${p}`,
    );
  }
  if (channels !== c.numChannels)
    throw new Error(`images have ${channels} channels; the model expects ${c.numChannels} (RGB)`);
  const tokens = embeddings(pixels, w, c, ctx); // [n, T, D]
  const T = tokens.shape[1];
  return { tokens: tf.reshape(tokens, [n * T, c.hiddenSize]), T };
}

/** The whole model: pixels [n, H, W, C] (normalised) -> last_hidden_state [n, T, D] after the final layernorm. */
export function dinov2Forward(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config, ctx: ForwardContext): Tensor3D {
  const n = pixels.shape[0];
  const { tokens, T } = inputTokens(pixels, w, c, ctx);
  return tf.reshape(finalNorm(encoder(tokens, n, w.layers, c, ctx), w, c), [n, T, c.hiddenSize]);
}

/**
 * The pooled output, [n, D]: `pool(dinov2Forward(...))`, except that with
 * CLS pooling the last layer computes the CLS rows alone (clsLayerStep) and
 * the final layernorm runs on them only.
 */
export function dinov2Pooled(
  pixels: Tensor4D,
  w: Dinov2Weights,
  c: Dinov2Config,
  ctx: ForwardContext,
  method: PoolingMethod,
): Tensor2D {
  if (method !== 'cls') return pool(dinov2Forward(pixels, w, c, ctx), method, c.numRegisterTokens);
  const n = pixels.shape[0];
  const { tokens } = inputTokens(pixels, w, c, ctx);
  const last = w.layers[w.layers.length - 1]!;
  const h = encoder(tokens, n, w.layers.slice(0, -1), c, ctx);
  const cls = stepOp(
    [h],
    layerParams(last),
    ([input], saved, grads) => clsLayerStep(input as Tensor2D, n, last, c, ctx, saved, grads) as Step,
  ) as Tensor2D;
  return finalNorm(cls, w, c);
}

export type PoolingMethod = 'cls' | 'mean';

/**
 * Pooling: the CLS token (Hugging Face's pooler_output) or the mean of the
 * patch tokens (CLS and registers excluded). [n, T, D] -> [n, D].
 */
export function pool(lastHiddenState: Tensor3D, method: PoolingMethod, numRegisterTokens: number): Tensor2D {
  const [n, T, D] = lastHiddenState.shape;
  if (method === 'cls') return tf.reshape(tf.slice(lastHiddenState, [0, 0, 0], [n, 1, D]), [n, D]);
  const first = 1 + numRegisterTokens;
  return tf.mean(tf.slice(lastHiddenState, [0, first, 0], [n, T - first, D]), 1);
}

/** The optional bias-free projection head: [n, D] · [D, P] -> [n, P]. */
export function projectionHead(pooled: Tensor2D, weight: Variable): Tensor2D {
  return linear(pooled, weight, null);
}
