/**
 * DINOv2 (plain, SwiGLU, with registers), its pooling and projection head as
 * an ONNX graph, built from a loaded `Dinov2ImageEncoder`: the same weight
 * structures the TF.js forward pass reads (model/dinov2.ts), the same
 * position-embedding resize (model/interpolate.ts), so there is one
 * description of the model.
 *
 * Choices:
 * - The input size is fixed when the graph is built: the position
 *   embeddings are resized here, in TypeScript, for that one H x W (as the
 *   TF.js path does per grid), and stored resized. The batch is dynamic.
 * - LoRA adapters are merged into the weights (W + scale · A B, as PEFT's
 *   merge_and_unload): one graph, the speed of the base model, and a file any
 *   runtime loads without knowing about adapters. Training (part 2) would
 *   keep them as inputs.
 * - Exact GELU written as x · 0.5 · (1 + erf(x / √2)), the pattern ONNX
 *   Runtime fuses into one Gelu kernel (opset 17 has no Gelu op).
 * - For training (`trainable`), the weights that train are graph inputs
 *   named by their parameter names, LoRA adapters stay separate products
 *   (with an optional dropout mask input each), the patch embedding is the
 *   engine's patch extraction plus a MatMul, and the position embeddings are
 *   resized inside the graph by a constant matrix: every weight's path is
 *   then made of ops that autodiff.ts differentiates. Frozen weights stay
 *   initializers.
 */
import { tf, type Tensor, type Variable } from '../backend/tf';
import { tokensPerImage } from '../model/config';
import type { Dinov2Weights, Layer, Linear, Norm } from '../model/dinov2';
import { resizePositionEmbeddings } from '../model/dinov2';
import { gridResizeMatrix } from '../model/interpolate';
import type { Dinov2ImageEncoder } from '../model/encoder';
import { paramSpecs, toHfLayout } from '../model/params';
import { FLOAT, GraphBuilder, type Dim } from './graph';
import type { ProtoMessage } from '../util/protobuf';

export const INPUT_NAME = 'pixel_values';
export const OUTPUT_NAME = 'embedding';
export const BATCH_DIM = 'batch';

export interface Dinov2GraphOptions {
  /** Input height and width in pixels (multiples of the patch size). */
  height: number;
  width: number;
  /**
   * 'nchw': the deployable contract, [N, 3, H, W] as transformers feeds it;
   * 'nhwc': [N, H, W, 3], the engine's own pixel batches (model/types.ts).
   */
  layout: 'nchw' | 'nhwc';
  /** Build the training form (see the file comment); its layout must be 'nhwc'. */
  trainable?: TrainableInputs;
}

export interface TrainableInputs {
  /** The variables read as graph inputs, with their input names (parameter names). */
  inputs: ReadonlyMap<Variable, string>;
  /** A float mask input per LoRA adapter (`loraMaskName`), multiplied into the adapter's input (inverted dropout). */
  loraDropout: boolean;
  /** Build one part of the model only (see GraphSegment); default the whole model. */
  segment?: GraphSegment;
  /**
   * The dropout-mask input's name for the adapter with this index (default `loraMaskName`). A layer's
   * graph numbers its own adapters from 0, so that layers of one structure have one graph.
   */
  maskName?: (adapterIndex: number) => string;
}

/**
 * A part of the model as a graph of its own: the embeddings (pixels ->
 * tokens), one transformer layer (tokens `TOKENS_NAME` -> tokens), or the
 * head (tokens -> final norm, pooling, projection). Backward passes run
 * part by part hold one part's activations at a time.
 */
export type GraphSegment = { kind: 'embeddings' } | { kind: 'layer'; index: number } | { kind: 'head' };

/** The token input [N, T, D] of a layer or head segment. */
export const TOKENS_NAME = 'tokens';

/** Name of the dropout-mask input of the adapter with this index: [N, T, in] (T = tokens per image). */
export function loraMaskName(adapterIndex: number): string {
  return `lora_mask_${adapterIndex}`;
}

function values(t: Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** A linear layer's [in, out] weight with its LoRA adapter (if any) merged in. */
function mergedWeight(l: Linear): Float32Array {
  if (!l.lora) return values(l.weight);
  const { a, b, scale } = l.lora;
  const merged = tf.tidy(() => tf.add(l.weight, tf.mul(tf.matMul(a, b), scale)));
  try {
    return values(merged);
  } finally {
    merged.dispose();
  }
}

class Dinov2GraphWriter {
  readonly g = new GraphBuilder('vembed_dinov2');
  /** The graph's result before an output's name is given to it: the embedding, or a segment's output tokens. */
  embedding = '';
  /** The tokens entering each layer, then those leaving the last one (whole graphs only). */
  readonly layerInputs: string[] = [];
  private readonly declaredInputs = new Set<Variable>();
  /** Tokens per image (set by `build`): the masks' middle axis. */
  private tokens = 0;
  /** The dropout-mask inputs declared, by input name: the index of the adapter each one is for. */
  readonly maskInputs = new Map<string, number>();

  constructor(
    private readonly encoder: Dinov2ImageEncoder,
    private readonly trainable: TrainableInputs | undefined,
  ) {}

  private get c() {
    return this.encoder.config;
  }

  /** Names of the weights that became graph inputs, in the order they were declared. */
  paramInputs(): string[] {
    return [...this.declaredInputs].map((v) => this.trainable!.inputs.get(v)!);
  }

  /** A weight: a graph input when it trains, an initializer otherwise. */
  private param(prefix: string, v: Variable): string {
    const input = this.trainable?.inputs.get(v);
    if (input === undefined) return this.g.floats(prefix, values(v), v.shape);
    if (!this.declaredInputs.has(v)) {
      this.g.input(input, FLOAT, v.shape);
      this.declaredInputs.add(v);
    }
    return input;
  }

  private scalar(prefix: string, value: number): string {
    return this.g.floats(prefix, Float32Array.of(value), []);
  }

  private linear(x: string, l: Linear, name: string): string {
    if (this.trainable) return this.trainingLinear(x, l, name);
    const w = this.g.floats(`${name}_w`, mergedWeight(l), l.weight.shape);
    const y = this.g.op('MatMul', [x, w]);
    return l.bias ? this.g.op('Add', [y, this.param(`${name}_b`, l.bias)]) : y;
  }

  /** y = x W + b + (scale · (dropout(x) A)) B, in the TF.js path's order (model/ops.ts, linearStep). */
  private trainingLinear(x: string, l: Linear, name: string): string {
    const base = this.g.op('MatMul', [x, this.param(`${name}_w`, l.weight)]);
    const y = l.bias ? this.g.op('Add', [base, this.param(`${name}_b`, l.bias)]) : base;
    if (!l.lora) return y;
    const { a, b, scale, index } = l.lora;
    const input = this.trainable!.loraDropout ? this.g.op('Mul', [x, this.maskInput(index, a.shape[0]!)]) : x;
    const down = this.g.op('Mul', [
      this.g.op('MatMul', [input, this.param(`${name}_lora_a`, a)]),
      this.scalar('lora_scale', scale),
    ]);
    return this.g.op('Add', [y, this.g.op('MatMul', [down, this.param(`${name}_lora_b`, b)])]);
  }

  /** The dropout mask [N, T, in] of the adapter with this index. */
  private maskInput(adapterIndex: number, inFeatures: number): string {
    const name = (this.trainable!.maskName ?? loraMaskName)(adapterIndex);
    if (!this.maskInputs.has(name)) {
      this.g.input(name, FLOAT, [BATCH_DIM, this.tokens, inFeatures]);
      this.maskInputs.set(name, adapterIndex);
    }
    return name;
  }

  private layerNorm(x: string, n: Norm, name: string): string {
    return this.g.op('LayerNormalization', [x, this.param(`${name}_g`, n.weight), this.param(`${name}_b`, n.bias)], {
      axis: { int: -1 },
      epsilon: { float: this.c.layerNormEps },
    });
  }

  /** [N, T, D] -> [N, heads, T, dh] (or [N, heads, dh, T] for keys). */
  private heads(x: string, perm: number[]): string {
    const heads = this.c.numAttentionHeads;
    const split = this.g.op('Reshape', [x, this.g.int64s('heads_shape', [0, 0, heads, this.c.hiddenSize / heads])]);
    return this.g.op('Transpose', [split], { perm: { ints: perm } });
  }

  private attention(x: string, layer: Layer, name: string): string {
    const dh = this.c.hiddenSize / this.c.numAttentionHeads;
    // q is scaled before q·kᵀ, as the TF.js path does.
    const q = this.g.op('Mul', [
      this.linear(x, layer.query, `${name}_q`),
      this.scalar('attn_scale', 1 / Math.sqrt(dh)),
    ]);
    const k = this.linear(x, layer.key, `${name}_k`);
    const v = this.linear(x, layer.value, `${name}_v`);
    const scores = this.g.op('MatMul', [this.heads(q, [0, 2, 1, 3]), this.heads(k, [0, 2, 3, 1])]); // [N, h, T, T]
    const probs = this.g.op('Softmax', [scores], { axis: { int: -1 } });
    const ctx = this.g.op('MatMul', [probs, this.heads(v, [0, 2, 1, 3])]); // [N, h, T, dh]
    const joined = this.g.op('Reshape', [
      this.g.op('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }),
      this.g.int64s('join_shape', [0, 0, this.c.hiddenSize]),
    ]);
    return this.linear(joined, layer.output, `${name}_o`);
  }

  private mlp(x: string, layer: Layer, name: string): string {
    const m = layer.mlp;
    if (m.kind === 'gelu') {
      const h = this.linear(x, m.fc1, `${name}_fc1`);
      const erf = this.g.op('Erf', [this.g.op('Div', [h, this.scalar('sqrt2', Math.SQRT2)])]);
      const gelu = this.g.op('Mul', [
        this.g.op('Mul', [h, this.g.op('Add', [erf, this.scalar('one', 1)])]),
        this.scalar('half', 0.5),
      ]);
      return this.linear(gelu, m.fc2, `${name}_fc2`);
    }
    const both = this.linear(x, m.weightsIn, `${name}_in`);
    const half = m.weightsIn.weight.shape[1]! / 2;
    const [x1, x2] = this.g.node('Split', [both, this.g.int64s('split', [half, half])], { axis: { int: -1 } }, 2) as [
      string,
      string,
    ];
    const silu = this.g.op('Mul', [x1, this.g.op('Sigmoid', [x1])]);
    return this.linear(this.g.op('Mul', [silu, x2]), m.weightsOut, `${name}_out`);
  }

  private layer(x: string, layer: Layer, i: number): string {
    const name = `layer${i}`;
    const attn = this.attention(this.layerNorm(x, layer.norm1, `${name}_norm1`), layer, name);
    const x1 = this.g.op('Add', [x, this.g.op('Mul', [attn, this.param(`${name}_ls1`, layer.layerScale1)])]);
    const ffn = this.mlp(this.layerNorm(x1, layer.norm2, `${name}_norm2`), layer, name);
    return this.g.op('Add', [x1, this.g.op('Mul', [ffn, this.param(`${name}_ls2`, layer.layerScale2)])]);
  }

  /**
   * The training form of `embeddings`: NHWC pixels -> tokens, every weight
   * on a differentiable path (see the file comment); the same sums as the
   * TF.js path (model/dinov2.ts, embeddings).
   */
  private trainingEmbeddings(pixels: string, w: Dinov2Weights, gh: number, gw: number): string {
    const c = this.c;
    const D = c.hiddenSize;
    const p = c.patchSize;
    const C = c.numChannels;
    const g = this.g;
    const shape = (dims: number[]) => g.int64s('shape', dims);
    // [n, H, W, C] = [n*gh, p, gw, p*C] -> [n*gh, gw, p, p*C] -> [n*gh*gw, p*p*C], rows ordered (ky, kx, c).
    const rows = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [pixels, shape([-1, p, gw, p * C])])], { perm: { ints: [0, 2, 1, 3] } }),
      shape([-1, p * p * C]),
    ]);
    const proj = w.patchProjection;
    const patches = g.op('Reshape', [
      g.op('Add', [g.op('MatMul', [rows, this.param('patch_w', proj.weight)]), this.param('patch_b', proj.bias!)]),
      shape([-1, gh * gw, D]),
    ]);
    const [, count] = w.positionEmbeddings.shape as [number, number, number];
    const table = g.op('Reshape', [this.param('pos', w.positionEmbeddings), shape([count, D])]);
    const row = (start: number, end: number) =>
      g.op('Slice', [table, g.int64s('start', [start]), g.int64s('end', [end]), g.int64s('axis', [0])]);
    const trained = count - 1;
    let grid = row(1, count);
    if (trained !== gh * gw || gh !== gw) {
      // Resizing is linear: one constant [gh*gw, trained] matrix, as resizePositionEmbeddings does it.
      const side = Math.round(Math.sqrt(trained));
      const resize = gridResizeMatrix(side, side, gh, gw, c.modelType === 'dinov2_with_registers');
      grid = g.op('MatMul', [g.floats('pos_resize', resize, [gh * gw, trained]), grid]);
    }
    const withPos = g.op('Add', [patches, g.op('Reshape', [grid, shape([1, gh * gw, D])])]);
    const clsRow = g.op('Add', [
      g.op('Reshape', [this.param('cls', w.clsToken), shape([1, 1, D])]),
      g.op('Reshape', [row(0, 1), shape([1, 1, D])]),
    ]);
    const prefix = w.registerTokens
      ? g.op('Concat', [clsRow, this.param('registers', w.registerTokens)], { axis: { int: 1 } })
      : clsRow;
    const batch = g.op('Shape', [pixels], { start: { int: 0 }, end: { int: 1 } });
    const expandTo = g.op('Concat', [batch, g.int64s('ones', [1, 1])], { axis: { int: 0 } });
    return g.op('Concat', [g.op('Expand', [prefix, expandTo]), withPos], { axis: { int: 1 } });
  }

  /** pixels -> tokens [N, 1 + R + gh*gw, D]: CLS + its position, registers, patches + theirs. */
  private embeddings(pixels: string, w: Dinov2Weights, gh: number, gw: number): string {
    const c = this.c;
    const D = c.hiddenSize;
    const p = c.patchSize;
    const convSpec = paramSpecs(c).find((s) => s.name === 'embeddings.patch_embeddings.projection.weight')!;
    const kernel = this.g.floats('patch_w', toHfLayout(convSpec, w.patchProjection.weight), convSpec.hfShape);
    const conv = this.g.op('Conv', [pixels, kernel, this.param('patch_b', w.patchProjection.bias!)], {
      kernel_shape: { ints: [p, p] },
      strides: { ints: [p, p] },
    });
    const patches = this.g.op(
      'Transpose',
      [this.g.op('Reshape', [conv, this.g.int64s('patch_shape', [0, D, gh * gw])])],
      { perm: { ints: [0, 2, 1] } },
    );

    const posTable = tf.tidy(() => resizePositionEmbeddings(w.positionEmbeddings, c, gh, gw)); // [1 + gh*gw, D]
    const pos = values(posTable);
    if (posTable !== (w.positionEmbeddings as Tensor)) posTable.dispose();
    const withPos = this.g.op('Add', [patches, this.g.floats('pos_patches', pos.slice(D), [1, gh * gw, D])]);

    // CLS plus its position embedding (float32 sum, as tf.add computes it), then the registers, which get none.
    const cls = values(w.clsToken);
    const R = c.numRegisterTokens;
    const prefix = new Float32Array((1 + R) * D);
    for (let d = 0; d < D; d++) prefix[d] = Math.fround(cls[d]! + pos[d]!);
    if (w.registerTokens) prefix.set(values(w.registerTokens), D);
    const batch = this.g.op('Shape', [pixels], { start: { int: 0 }, end: { int: 1 } });
    const expandTo = this.g.op('Concat', [batch, this.g.int64s('ones', [1, 1])], { axis: { int: 0 } });
    const prefixes = this.g.op('Expand', [this.g.floats('cls_registers', prefix, [1, 1 + R, D]), expandTo]);
    return this.g.op('Concat', [prefixes, withPos], { axis: { int: 1 } });
  }

  build(options: Dinov2GraphOptions): GraphBuilder {
    const c = this.c;
    const { height, width } = options;
    const p = c.patchSize;
    if (
      !Number.isInteger(height) ||
      !Number.isInteger(width) ||
      height <= 0 ||
      width <= 0 ||
      height % p !== 0 ||
      width % p !== 0
    ) {
      throw new Error(
        `input size ${height}x${width} is not a positive multiple of the patch size ${p}; choose e.g. ${Math.max(1, Math.round(height / p)) * p}`,
      );
    }
    const { weights: w, head } = this.encoder.forwardWeights();
    if (this.trainable && options.layout !== 'nhwc') throw new Error('internal: the training graph takes NHWC pixels');
    const segment = this.trainable?.segment;
    const C = c.numChannels;
    this.tokens = tokensPerImage(c, height, width);
    let x: string;
    if (!segment || segment.kind === 'embeddings') {
      const inputDims: Dim[] =
        options.layout === 'nchw' ? [BATCH_DIM, C, height, width] : [BATCH_DIM, height, width, C];
      const input = this.g.input(INPUT_NAME, FLOAT, inputDims);
      const pixels =
        options.layout === 'nchw' ? input : this.g.op('Transpose', [input], { perm: { ints: [0, 3, 1, 2] } });
      x = this.trainable
        ? this.trainingEmbeddings(input, w, height / p, width / p)
        : this.embeddings(pixels, w, height / p, width / p);
      if (segment) {
        this.embedding = x;
        return this.g;
      }
    } else {
      x = this.g.input(TOKENS_NAME, FLOAT, [BATCH_DIM, this.tokens, c.hiddenSize]);
    }
    const layers =
      segment?.kind === 'layer' ? [segment.index] : segment?.kind === 'head' ? [] : w.layers.map((_, i) => i);
    for (const i of layers) {
      this.layerInputs.push(x);
      x = this.layer(x, w.layers[i]!, i);
    }
    if (segment?.kind === 'layer') {
      this.embedding = x;
      return this.g;
    }
    this.layerInputs.push(x);
    // Pooling before the final layernorm for CLS (it works row by row, so the CLS row is the same).
    let pooled: string;
    if (this.encoder.pooling === 'cls') {
      const cls = this.g.op('Gather', [x, this.g.int64s('cls_index', [0], [])], { axis: { int: 1 } });
      pooled = this.layerNorm(cls, w.layernorm, 'final_norm');
    } else {
      const normed = this.layerNorm(x, w.layernorm, 'final_norm');
      const first = 1 + c.numRegisterTokens;
      const patchTokens = this.g.op('Slice', [
        normed,
        this.g.int64s('first_patch', [first]),
        this.g.int64s('end', [first + (height / p) * (width / p)]),
        this.g.int64s('token_axis', [1]),
      ]);
      pooled = this.g.op('ReduceMean', [patchTokens], { axes: { ints: [1] }, keepdims: { int: 0 } });
    }
    this.embedding = head ? this.g.op('MatMul', [pooled, this.param('projection', head)]) : pooled;
    return this.g;
  }
}

/** The encoder as an ONNX graph, not yet serialized (to write it with or without external data). */
export function dinov2OnnxGraph(encoder: Dinov2ImageEncoder, options: Dinov2GraphOptions): GraphBuilder {
  const { g, embedding } = dinov2ForwardGraph(encoder, options);
  g.output(embedding, OUTPUT_NAME, FLOAT, [BATCH_DIM, encoder.embeddingDim]);
  return g;
}

/**
 * The forward graph without its output declared: the builder and the name
 * of the embedding value, for graphs that go on from it (the training
 * graph's backward pass, onnx/trainGraph.ts).
 */
export function dinov2ForwardGraph(
  encoder: Dinov2ImageEncoder,
  options: Dinov2GraphOptions,
): {
  g: GraphBuilder;
  embedding: string;
  paramInputs: string[];
  layerInputs: string[];
  maskInputs: ReadonlyMap<string, number>;
} {
  const writer = new Dinov2GraphWriter(encoder, options.trainable);
  const g = writer.build(options);
  return {
    g,
    embedding: writer.embedding,
    paramInputs: writer.paramInputs(),
    layerInputs: writer.layerInputs,
    maskInputs: writer.maskInputs,
  };
}

/**
 * The encoder as an ONNX ModelProto: input `pixel_values`, output `embedding` [N, D] (pooled, projected, not
 * normalised).
 */
export function dinov2OnnxModel(
  encoder: Dinov2ImageEncoder,
  options: Dinov2GraphOptions,
  producerVersion: string,
): ProtoMessage {
  return dinov2OnnxGraph(encoder, options).toModel({ name: 'vembed', version: producerVersion });
}
