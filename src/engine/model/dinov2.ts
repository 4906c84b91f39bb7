/**
 * The fast DINOv2: the model of dinov2Paper.ts, function for function, with
 * hand-written gradients. Read the paper version first; each function here
 * names its counterpart there.
 *
 * What differs is how, not what: activations inside the encoder are kept 2-D,
 * [n * T, D] (T = tokens per image), so that every linear layer is one
 * matMul; each block runs as one custom op (autograd.ts says why) built from
 * steps (steps/: a forward pass and its backward pass, back(dy) -> dx), and
 * the steps keep for the backward pass only what it reads. Tests hold it to
 * the paper version (values and gradients) and to PyTorch.
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
 */
import { tf, type Tensor2D, type Tensor3D, type Tensor4D, type Variable } from '../backend/tf';
import { stepOp, type Saved, type Step, type StepContext, type StepScope } from './autograd';
import type { Dinov2Config } from './config';
import { pool, type PoolingMethod } from './dinov2Paper';
import { gridResizeMatrix } from './interpolate';
import { linear, matMul } from './ops';
import { geluStep, swigluStep } from './steps/activations';
import { attentionCoreStep } from './steps/attention';
import { clsAttentionCoreStep } from './steps/attentionCls';
import { layerNormStep } from './steps/layerNorm';
import { layerScaleStep } from './steps/layerScale';
import { linearStep } from './steps/linear';
import { layerParams, type Dinov2Weights, type Layer, type Mlp, type Norm } from './weights';

export type { Dinov2Weights, Layer, Linear, LoraAdapter, Mlp, Norm } from './weights';
export { pool, type PoolingMethod } from './dinov2Paper';

export interface ForwardContext extends StepContext {
  /** Position embeddings for a grid: [1 + gh*gw, D]; the encoder caches them when frozen. */
  positionEmbeddings(gh: number, gw: number): Tensor2D;
}

/** What the steps of one block share: the op's scope, the model's configuration and the batch size. */
interface BlockScope extends StepScope {
  config: Dinov2Config;
  /** Images in the batch: the activations' rows are that many groups of T tokens. */
  images: number;
}

// ------------------------------------------------------------------ embeddings

/**
 * Patch embeddings (paper: `patchEmbeddings`): the p x p stride-p convolution
 * as patch extraction plus one matMul. pixels [n, H, W, C] -> [n, gh*gw, D].
 */
function patchEmbeddings(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config): Tensor3D {
  const [n, height, width, channels] = pixels.shape;
  const p = c.patchSize;
  const gh = height / p;
  const gw = width / p;
  // [n, H, W, C] = [n*gh, p, gw, p*C] -> [n*gh, gw, p, p*C] -> [n*gh*gw, p*p*C]
  const patches: Tensor2D = tf.reshape(tf.transpose(tf.reshape(pixels, [n * gh, p, gw, p * channels]), [0, 2, 1, 3]), [
    n * gh * gw,
    p * p * channels,
  ]);
  const { weight, bias } = w.patchProjection;
  return tf.reshape(linear(patches, weight, bias), [n, gh * gw, c.hiddenSize]);
}

/**
 * Position embeddings for a gh x gw grid (paper: `interpolatePositionEmbeddings`):
 * [1 + gh*gw, D]. The CLS entry is kept; the patch grid is resized
 * bicubically unless it already fits.
 */
export function resizePositionEmbeddings(pos: Variable, c: Dinov2Config, gh: number, gw: number): Tensor2D {
  const [, count, dim] = pos.shape as [number, number, number];
  const table: Tensor2D = tf.reshape(pos, [count, dim]);
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
 * Embeddings (paper: `embeddings`): [CLS] + patches, plus position
 * embeddings, then registers. pixels [n, H, W, C] -> [n, T, D], T = 1 + R + gh*gw.
 */
function embeddings(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config, ctx: ForwardContext): Tensor3D {
  const [n, height, width] = pixels.shape;
  const D = c.hiddenSize;
  const gh = height / c.patchSize;
  const gw = width / c.patchSize;
  const patches = patchEmbeddings(pixels, w, c); // [n, gh*gw, D]
  const cls = tf.tile(w.clsToken, [n, 1, 1]); // [n, 1, D]
  const pos = tf.reshape(ctx.positionEmbeddings(gh, gw), [1, 1 + gh * gw, D]);
  const tokens: Tensor3D = tf.add(tf.concat([cls, patches], 1), pos); // [n, 1 + gh*gw, D]
  if (!w.registerTokens) return tokens;
  const registers = tf.tile(w.registerTokens as Tensor3D, [n, 1, 1]); // [n, R, D]
  const first = tf.slice(tokens, [0, 0, 0], [n, 1, D]);
  const rest = tf.slice(tokens, [0, 1, 0], [n, gh * gw, D]);
  return tf.concat([first, registers, rest], 1);
}

// ------------------------------------------------------------------ the block, as steps

/**
 * Dispose an intermediate of a block's forward pass that no backward pass
 * reads. Safe inside a block: the ops of a custom op's forward pass are not
 * on the gradient tape.
 */
function freeUnlessKept(t: Tensor2D, saved: Saved): void {
  if (!saved.holds(t)) t.dispose();
}

/** Attention options of the model's layers. */
function attentionShape(s: BlockScope): { images: number; heads: number; scale: number } {
  const heads = s.config.numAttentionHeads;
  return { images: s.images, heads, scale: 1 / Math.sqrt(s.config.hiddenSize / heads) };
}

/**
 * Attention (paper: `attention`): softmax(q kᵀ / sqrt(dh)) v per head, then
 * attention.output.dense. x [n*T, D] -> [n*T, D]; `xAgain` gives x again in
 * the backward pass (steps/linear.ts).
 */
function attentionStep(s: BlockScope, layer: Layer, x: Tensor2D, xAgain: () => Tensor2D): Step {
  const q = linearStep(s, layer.query, x, xAgain); // [n*T, D]
  const k = linearStep(s, layer.key, x, xAgain); // [n*T, D]
  const v = linearStep(s, layer.value, x, xAgain); // [n*T, D]
  const core = attentionCoreStep(s, { q: q.y, k: k.y, v: v.y }, attentionShape(s));
  freeUnlessKept(q.y, s.saved);
  const out = linearStep(s, layer.output, core.y);
  return {
    y: out.y,
    back: (dy) => {
      const d = core.back(out.back(dy));
      return tf.addN([q.back(d.q), k.back(d.k), v.back(d.v)]);
    },
  };
}

/**
 * Mlp (fc1, exact GELU, fc2) or SwiGLUFFN (weights_in, SiLU(x1) · x2,
 * weights_out) (paper: `mlp`): [N, D] -> [N, D].
 */
function mlpStep(s: StepScope, m: Mlp, x: Tensor2D, xAgain: () => Tensor2D): Step {
  const first = linearStep(s, m.kind === 'gelu' ? m.fc1 : m.weightsIn, x, xAgain);
  const gate = m.kind === 'gelu' ? geluStep(s, first.y) : swigluStep(s, first.y);
  // [N, 4D] intermediates that no backward pass reads go now rather than at the end of the block.
  freeUnlessKept(first.y, s.saved);
  const second = linearStep(s, m.kind === 'gelu' ? m.fc2 : m.weightsOut, gate.y);
  freeUnlessKept(gate.y, s.saved);
  return {
    y: second.y,
    back: (dy) => first.back(gate.back(second.back(dy))),
  };
}

/** A block's second half, with its residual: x1 + ls2 · mlp(norm2(x1)). [N, D] -> [N, D]. */
function mlpResidualStep(s: BlockScope, layer: Layer, x1: Tensor2D): Step {
  // The MLP's first linear gets the norm's output again from the norm instead of keeping it.
  const norm2 = layerNormStep(s, layer.norm2, s.config.layerNormEps, x1);
  const ffn = mlpStep(s, layer.mlp, norm2.y, norm2.outputAgain);
  const scaled2 = layerScaleStep(s, layer.layerScale2, ffn.y);
  return {
    y: tf.add(x1, scaled2.y),
    back: (dy) => tf.add(dy, norm2.back(ffn.back(scaled2.back(dy)))),
  };
}

/**
 * A transformer block (paper: `block`), pre-norm, with LayerScale on both branches:
 *   x1 = x + ls1 · attention(norm1(x));  y = x1 + ls2 · mlp(norm2(x1)).
 * [n*T, D] -> [n*T, D].
 */
function blockStep(s: BlockScope, layer: Layer, x: Tensor2D): Step {
  // The attention's linears get norm1's output again from the norm instead of keeping it.
  const norm1 = layerNormStep(s, layer.norm1, s.config.layerNormEps, x);
  const attn = attentionStep(s, layer, norm1.y, norm1.outputAgain);
  const scaled1 = layerScaleStep(s, layer.layerScale1, attn.y);
  const x1: Tensor2D = tf.add(x, scaled1.y);
  const second = mlpResidualStep(s, layer, x1);
  return {
    y: second.y,
    back: (dy) => {
      const dx1 = second.back(dy);
      return tf.add(dx1, norm1.back(attn.back(scaled1.back(dx1))));
    },
  };
}

/** Each image's CLS row (rows 0, T, 2T, ...): [n*T, D] -> [n, D]; its gradient goes back in place, zeros elsewhere. */
function clsRowsStep(s: BlockScope, x: Tensor2D): Step {
  const n = s.images;
  const [rows, D] = x.shape;
  const T = rows / n;
  return {
    y: tf.reshape(tf.slice(tf.reshape(x, [n, T, D]), [0, 0, 0], [n, 1, D]), [n, D]),
    back: (dy) =>
      tf.reshape(
        tf.pad(tf.reshape(dy, [n, 1, D]), [
          [0, 0],
          [0, T - 1],
          [0, 0],
        ]),
        [rows, D],
      ),
  };
}

/**
 * The last block when only the CLS token's output is read (CLS pooling):
 * every token still gives a key and a value, but only CLS asks a query, and
 * the output projection, the MLP and both residuals run on its row alone.
 * Same values as blockStep's CLS rows; for DINOv2-small at 224 px it skips
 * ~7% of the forward pass. [n*T, D] -> [n, D].
 */
function clsBlockStep(s: BlockScope, layer: Layer, x: Tensor2D): Step {
  const norm1 = layerNormStep(s, layer.norm1, s.config.layerNormEps, x); // [n*T, D]
  const k = linearStep(s, layer.key, norm1.y, norm1.outputAgain); // [n*T, D]
  const v = linearStep(s, layer.value, norm1.y, norm1.outputAgain); // [n*T, D]
  const clsIn = clsRowsStep(s, norm1.y); // [n, D]
  const q = linearStep(s, layer.query, clsIn.y); // [n, D]
  const core = clsAttentionCoreStep(s, { q: q.y, k: k.y, v: v.y }, attentionShape(s)); // [n, D]
  const out = linearStep(s, layer.output, core.y);
  const scaled1 = layerScaleStep(s, layer.layerScale1, out.y);
  const residual = clsRowsStep(s, x);
  const x1: Tensor2D = tf.add(residual.y, scaled1.y); // [n, D]
  const second = mlpResidualStep(s, layer, x1);
  return {
    y: second.y,
    back: (dy) => {
      const dx1 = second.back(dy);
      const d = core.back(out.back(scaled1.back(dx1)));
      const dNorm1 = tf.addN([k.back(d.k), v.back(d.v), clsIn.back(q.back(d.q))]);
      return tf.add(norm1.back(dNorm1), residual.back(dx1));
    },
  };
}

// ------------------------------------------------------------------ the model

/** One forward pass: the run's settings, the model's configuration, the number of images. */
interface ForwardRun {
  ctx: ForwardContext;
  config: Dinov2Config;
  images: number;
}

/** One block, as one node on the gradient tape. */
function blockOp(
  run: ForwardRun,
  block: (s: BlockScope, layer: Layer, x: Tensor2D) => Step,
  layer: Layer,
  x: Tensor2D,
): Tensor2D {
  const { ctx, config, images } = run;
  return stepOp(x, layerParams(layer), ctx, (input, s) => block({ ...s, config, images }, layer, input));
}

/** The encoder's blocks (paper: `encoder`, without the final layernorm): [n*T, D] -> [n*T, D]. */
function blocks(run: ForwardRun, layers: readonly Layer[], x: Tensor2D): Tensor2D {
  return layers.reduce((h, layer) => blockOp(run, blockStep, layer, h), x);
}

/** The final layernorm, as one node on the tape: [N, D] -> [N, D]. */
function finalNorm(run: ForwardRun, norm: Norm, h: Tensor2D): Tensor2D {
  return stepOp(h, [norm.weight, norm.bias], run.ctx, (x, s) => layerNormStep(s, norm, run.config.layerNormEps, x));
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

/** The whole model (paper: `dinov2`): pixels [n, H, W, C] (normalised) -> last_hidden_state [n, T, D]. */
export function dinov2Forward(pixels: Tensor4D, w: Dinov2Weights, c: Dinov2Config, ctx: ForwardContext): Tensor3D {
  const run: ForwardRun = { ctx, config: c, images: pixels.shape[0] };
  const { tokens, T } = inputTokens(pixels, w, c, ctx);
  return tf.reshape(finalNorm(run, w.layernorm, blocks(run, w.layers, tokens)), [run.images, T, c.hiddenSize]);
}

/**
 * The pooled output, [n, D]: `pool(dinov2Forward(...))`, except that with
 * CLS pooling the last block computes the CLS rows alone (clsBlockStep) and
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
  const run: ForwardRun = { ctx, config: c, images: pixels.shape[0] };
  const { tokens } = inputTokens(pixels, w, c, ctx);
  const last = w.layers[w.layers.length - 1]!;
  const h = blocks(run, w.layers.slice(0, -1), tokens);
  return finalNorm(run, w.layernorm, blockOp(run, clsBlockStep, last, h));
}

/** The optional bias-free projection head (paper: in `dinov2Embedding`): [n, D] · [D, P] -> [n, P]. */
export function projectionHead(pooled: Tensor2D, weight: Variable): Tensor2D {
  return linear(pooled, weight, null);
}
