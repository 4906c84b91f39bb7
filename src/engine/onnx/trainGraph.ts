/**
 * The gradient cache's graphs for one encoder and input size, all from the
 * one forward description (dinov2Graph.ts, training form):
 *
 * - the embedding pass: NHWC `pixel_values` and the trainable weights in,
 *   `embedding` [N, E] out, and the tokens entering every layer
 *   (`tokens_<i>`, the last one leaving the last layer), which the backward
 *   pass starts from;
 * - the backward pass, one graph per part of the model (GraphSegment: the
 *   head, each layer, the embeddings when they train): the part's forward
 *   recomputed from its input, then reverse-mode differentiation
 *   (autodiff.ts) of ⟨output, `segment_grad`⟩, giving `grad_<parameter>`
 *   for the part's trainable weights and `grad_tokens` for its input. Run
 *   from the head down, each part's `grad_tokens` is the next one's
 *   `segment_grad`: the chain rule across parts, with one part's activations
 *   alive at a time (a whole-model backward graph held all of them: ~2.3 GB
 *   for 8 images of DINOv2-small at 224 px, measured). Layers of one
 *   structure share one graph (BackwardPart).
 *
 * For a small model, whose whole backward fits in memory, two whole-model
 * graphs replace the parts: the backward pass from the pixels
 * (wholeBackwardGraph), and the whole training step with the InfoNCE loss
 * inside (wholeStepGraph: one session run for a batch that fits).
 *
 * Trainable weights are inputs named by their parameter names (they change
 * every step); frozen ones are initializers of the embedding pass, so a LoRA
 * graph carries the base model and takes only the adapters and the head.
 */
import type { Variable } from '../backend/tf';
import { tokensPerImage } from '../model/config';
import type { Dinov2ImageEncoder } from '../model/encoder';
import { appendGradients } from './autodiff';
import {
  BATCH_DIM,
  dinov2ForwardGraph,
  loraMaskName,
  OUTPUT_NAME,
  TOKENS_NAME,
  type GraphSegment,
} from './dinov2Graph';
import { FLOAT, type GraphBuilder } from './graph';
import { appendInfoNceLoss, LOSS_NAME, PAIRS_DIM } from './lossGraph';

export const SEGMENT_GRAD_NAME = 'segment_grad';
export const TOKENS_GRAD_NAME = 'grad_tokens';

export function gradientOutputName(parameter: string): string {
  return `grad_${parameter}`;
}

/** The embedding pass's output holding the tokens that enter layer `i` (i = layers: the head's input). */
export function layerTokensName(i: number): string {
  return `tokens_${i}`;
}

/**
 * The backward graph of one part of the model and how to feed it. Each
 * layer's graph takes all of the layer's weights as inputs, frozen ones too,
 * under names without the layer's number (`layer.attention...`), and numbers
 * its dropout masks from 0: layers of one structure then have byte-identical
 * graphs, and one ONNX Runtime session (with its memory arena) serves them
 * all. The head's and the embeddings' graphs read their frozen weights as
 * initializers.
 */
export interface BackwardPart {
  /** The part of the model, or the whole model (wholeBackwardGraph: pixels in, no `grad_tokens`). */
  segment: GraphSegment | { kind: 'model' };
  bytes: Uint8Array;
  /** Weight inputs: graph input name -> parameter name. */
  weights: ReadonlyMap<string, string>;
  /** Dropout-mask inputs: graph input name -> `loraMaskName` of the adapter's mask. */
  masks: ReadonlyMap<string, string>;
  /** Gradient outputs: graph output name -> trainable parameter name. */
  gradients: ReadonlyArray<[output: string, parameter: string]>;
  /** Whether it outputs `grad_tokens` (every part but the embeddings). */
  tokensGrad: boolean;
}

export interface TrainingGraphs {
  /** The embedding pass, serialized. */
  forward: Uint8Array;
  /** Every trainable parameter the graphs read, by name. */
  params: Array<[string, Variable]>;
  /** The backward parts from the head down to the embeddings (left out when nothing in them trains). */
  backward: BackwardPart[];
  layers: number;
}

export interface TrainingGraphOptions {
  height: number;
  width: number;
  /** Give every LoRA adapter a dropout-mask input (when dropout is on). */
  loraDropout: boolean;
}

/** The trainable variables by parameter name (encoder.trainableVariables, those that train now). */
function trainableParams(encoder: Dinov2ImageEncoder): Map<Variable, string> {
  const out = new Map<Variable, string>();
  for (const [name, v] of encoder.trainableVariables()) if (v.trainable) out.set(v, name);
  if (out.size === 0) throw new Error('The encoder has no trainable variables: nothing to train.');
  return out;
}

const PRODUCER = { name: 'vembed', version: 'engine' };

function forwardGraph(encoder: Dinov2ImageEncoder, options: TrainingGraphOptions, inputs: Map<Variable, string>) {
  const { g, embedding, paramInputs, layerInputs } = dinov2ForwardGraph(encoder, {
    height: options.height,
    width: options.width,
    layout: 'nhwc',
    trainable: { inputs, loraDropout: options.loraDropout },
  });
  g.output(embedding, OUTPUT_NAME, FLOAT, [BATCH_DIM, encoder.embeddingDim]);
  const c = encoder.config;
  const tokens = tokensPerImage(c, options.height, options.width);
  layerInputs.forEach((v, i) => g.output(v, layerTokensName(i), FLOAT, [BATCH_DIM, tokens, c.hiddenSize]));
  return { bytes: g.toModel(PRODUCER).toBytes(), paramInputs, tokens };
}

/** Layer `i`'s weights as graph inputs under names shared by every layer (see BackwardPart). */
function layerWeightInputs(all: ReadonlyMap<string, Variable>, i: number): Map<Variable, string> {
  const prefix = `encoder.layer.${i}.`;
  const out = new Map<Variable, string>();
  for (const [name, v] of all) if (name.startsWith(prefix)) out.set(v, `layer.${name.slice(prefix.length)}`);
  return out;
}

/** Adapter index -> the mask name a layer's graph gives it (the layer's adapters numbered from 0). */
function layerMaskNames(encoder: Dinov2ImageEncoder, i: number): (adapterIndex: number) => string {
  const first = encoder.loraModules().findIndex((path) => path.startsWith(`encoder.layer.${i}.`));
  return (adapterIndex) => loraMaskName(adapterIndex - first);
}

/** Every parameter of the encoder, frozen or trainable, both ways: a layer's graph also reads frozen weights. */
interface ParamNames {
  byName: ReadonlyMap<string, Variable>;
  nameOf: ReadonlyMap<Variable, string>;
}

function backwardPart(
  encoder: Dinov2ImageEncoder,
  options: TrainingGraphOptions,
  trainable: Map<Variable, string>,
  all: ParamNames,
  segment: GraphSegment,
  tokens: number,
): BackwardPart | null {
  const shared = segment.kind === 'layer';
  const inputs = shared ? layerWeightInputs(all.byName, segment.index) : trainable;
  const { g, embedding, paramInputs, maskInputs } = dinov2ForwardGraph(encoder, {
    height: options.height,
    width: options.width,
    layout: 'nhwc',
    trainable: {
      inputs,
      loraDropout: options.loraDropout,
      segment,
      ...(shared ? { maskName: layerMaskNames(encoder, segment.index) } : {}),
    },
  });
  const inputParams = new Map([...inputs].map(([v, name]) => [name, v] as const));
  const trainableInputs = paramInputs.filter((name) => trainable.has(inputParams.get(name)!));
  const tokensGrad = segment.kind !== 'embeddings';
  if (!tokensGrad && trainableInputs.length === 0) return null;
  const D = encoder.config.hiddenSize;
  const outDims = segment.kind === 'head' ? [BATCH_DIM, encoder.embeddingDim] : [BATCH_DIM, tokens, D];
  const seed = g.input(SEGMENT_GRAD_NAME, FLOAT, outDims);
  const grads = appendGradients(g, embedding, seed, [...trainableInputs, ...(tokensGrad ? [TOKENS_NAME] : [])]);
  const gradients: Array<[string, string]> = [];
  for (const name of trainableInputs) {
    const grad = grads.get(name);
    if (!grad) continue;
    const v = inputParams.get(name)!;
    g.output(grad, gradientOutputName(name), FLOAT, v.shape);
    gradients.push([gradientOutputName(name), trainable.get(v)!]);
  }
  if (tokensGrad) g.output(grads.get(TOKENS_NAME)!, TOKENS_GRAD_NAME, FLOAT, [BATCH_DIM, tokens, D]);
  return {
    segment,
    bytes: g.toModel(PRODUCER).toBytes(),
    weights: new Map(paramInputs.map((name) => [name, all.nameOf.get(inputParams.get(name)!)!])),
    masks: new Map([...maskInputs].map(([name, index]) => [name, loraMaskName(index)])),
    gradients,
    tokensGrad,
  };
}

/** The whole-model graphs' weights, masks and gradient outputs (see BackwardPart). */
export type WholeGraph = Omit<BackwardPart, 'segment' | 'tokensGrad'>;

/**
 * The forward pass from the pixels, then the gradients of every trainable weight of `objective(g,
 * embedding)` (a value and the seed of its gradient), in one graph.
 */
function wholeModelGraph(
  encoder: Dinov2ImageEncoder,
  options: TrainingGraphOptions,
  objective: (g: GraphBuilder, embedding: string) => { value: string; seed: string },
): WholeGraph {
  const trainable = trainableParams(encoder);
  const { g, embedding, paramInputs, maskInputs } = dinov2ForwardGraph(encoder, {
    height: options.height,
    width: options.width,
    layout: 'nhwc',
    trainable: { inputs: trainable, loraDropout: options.loraDropout },
  });
  const inputParams = new Map([...trainable].map(([v, name]) => [name, v] as const));
  const { value, seed } = objective(g, embedding);
  const grads = appendGradients(g, value, seed, paramInputs);
  const gradients: Array<[string, string]> = [];
  for (const name of paramInputs) {
    const grad = grads.get(name);
    if (!grad) continue;
    g.output(grad, gradientOutputName(name), FLOAT, inputParams.get(name)!.shape);
    gradients.push([gradientOutputName(name), name]);
  }
  return {
    bytes: g.toModel(PRODUCER).toBytes(),
    weights: new Map(paramInputs.map((name) => [name, name])),
    masks: new Map([...maskInputs].map(([name, index]) => [name, loraMaskName(index)])),
    gradients,
  };
}

/**
 * The whole model's backward graph: the forward pass from the pixels
 * recomputed, then the gradients of ⟨embedding, segment_grad⟩ for every
 * trainable weight, in one graph. One session run per chunk instead of one
 * per part: for a small model the per-run costs outweigh the compute (see
 * `wholeBackwardFits`), and its activations, all alive at once, still fit.
 */
export function wholeBackwardGraph(encoder: Dinov2ImageEncoder, options: TrainingGraphOptions): BackwardPart {
  const part = wholeModelGraph(encoder, options, (g, embedding) => ({
    value: embedding,
    seed: g.input(SEGMENT_GRAD_NAME, FLOAT, [BATCH_DIM, encoder.embeddingDim]),
  }));
  return { segment: { kind: 'model' }, tokensGrad: false, ...part };
}

/**
 * A small model's whole training step as one graph: both sides of the
 * batch embedded in one pass (pixels: the queries, then their positives),
 * the InfoNCE loss (lossGraph.ts; output LOSS_NAME), and the gradients of
 * the loss for every trainable weight. When the batch's activations fit,
 * the gradient cache's three steps (embed, loss, backward again) give the
 * same gradients in one session run, without embedding the batch twice.
 */
export function wholeStepGraph(encoder: Dinov2ImageEncoder, options: TrainingGraphOptions): WholeGraph {
  return wholeModelGraph(encoder, options, (g, embedding) => {
    const loss = appendInfoNceLoss(g, embedding, encoder.embeddingDim, PAIRS_DIM);
    g.output(loss, LOSS_NAME, FLOAT, []);
    return { value: loss, seed: g.floats('loss_seed', Float32Array.of(1), []) };
  });
}

/** `backward: false` leaves the backward parts out (for a trainer that runs wholeBackwardGraph instead). */
export function trainingGraphs(
  encoder: Dinov2ImageEncoder,
  options: TrainingGraphOptions,
  { backward: withBackward = true }: { backward?: boolean } = {},
): TrainingGraphs {
  const inputs = trainableParams(encoder);
  const forward = forwardGraph(encoder, options, inputs);
  const layers = encoder.config.numHiddenLayers;
  const segments: GraphSegment[] = [
    { kind: 'head' },
    ...Array.from({ length: layers }, (_, k) => ({ kind: 'layer' as const, index: layers - 1 - k })),
    { kind: 'embeddings' },
  ];
  const byName = new Map([...encoder.baseVariables(), ...encoder.trainableVariables()]);
  const all: ParamNames = { byName, nameOf: new Map([...byName].map(([name, v]) => [v, name] as const)) };
  const backward = withBackward
    ? segments.flatMap((s) => backwardPart(encoder, options, inputs, all, s, forward.tokens) ?? [])
    : [];
  return {
    forward: forward.bytes,
    params: forward.paramInputs.map((name) => [name, byName.get(name)!] as [string, Variable]),
    backward,
    layers,
  };
}
