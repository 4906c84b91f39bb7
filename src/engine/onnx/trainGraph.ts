/**
 * The gradient cache's two graphs for one encoder and input size, both from
 * the one forward description (dinov2Graph.ts, training form):
 *
 * - the embedding pass: NHWC `pixel_values` and the trainable weights in,
 *   `embedding` [N, E] out;
 * - the backward pass: the same inputs plus `embedding_grad` [N, E] (the
 *   cached dLoss/dEmbedding of the chunk), out `grad_<parameter>` for every
 *   trainable weight: the forward recomputed, then reverse-mode
 *   differentiation of ⟨embedding, embedding_grad⟩ (autodiff.ts).
 *
 * Trainable weights are inputs named by their parameter names (they change
 * every step); frozen ones are initializers, so a LoRA graph carries the
 * base model and takes only the adapters and the head per run.
 */
import type { Variable } from '../backend/tf';
import type { Dinov2ImageEncoder } from '../model/encoder';
import { appendGradients } from './autodiff';
import { BATCH_DIM, dinov2ForwardGraph, INPUT_NAME, OUTPUT_NAME } from './dinov2Graph';
import { FLOAT } from './graph';

export const EMBEDDING_GRAD_NAME = 'embedding_grad';

export function gradientOutputName(parameter: string): string {
  return `grad_${parameter}`;
}

export interface TrainingGraphs {
  /** The embedding pass, serialized. */
  forward: Uint8Array;
  /** The backward pass, serialized. */
  backward: Uint8Array;
  /** Trainable parameters fed to both graphs, by name, in input order. */
  params: Array<[string, Variable]>;
  /** Whether each LoRA adapter takes a dropout mask input (onnx/dinov2Graph.ts, loraMaskName). */
  loraDropout: boolean;
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

function build(encoder: Dinov2ImageEncoder, options: TrainingGraphOptions, withBackward: boolean) {
  const inputs = trainableParams(encoder);
  const { g, embedding, paramInputs } = dinov2ForwardGraph(encoder, {
    height: options.height,
    width: options.width,
    layout: 'nhwc',
    trainable: { inputs, loraDropout: options.loraDropout },
  });
  const dim = encoder.embeddingDim;
  if (!withBackward) {
    g.output(embedding, OUTPUT_NAME, FLOAT, [BATCH_DIM, dim]);
  } else {
    const seed = g.input(EMBEDDING_GRAD_NAME, FLOAT, [BATCH_DIM, dim]);
    const grads = appendGradients(g, embedding, seed, paramInputs);
    const byName = new Map([...inputs].map(([v, name]) => [name, v] as const));
    for (const name of paramInputs) {
      const grad = grads.get(name);
      if (grad) g.output(grad, gradientOutputName(name), FLOAT, byName.get(name)!.shape);
    }
  }
  const byName = new Map([...inputs].map(([v, name]) => [name, v] as const));
  return {
    bytes: g.toModel({ name: 'vembed', version: 'engine' }).toBytes(),
    params: paramInputs.map((name) => [name, byName.get(name)!] as [string, Variable]),
  };
}

export function trainingGraphs(encoder: Dinov2ImageEncoder, options: TrainingGraphOptions): TrainingGraphs {
  const forward = build(encoder, options, false);
  const backward = build(encoder, options, true);
  return {
    forward: forward.bytes,
    backward: backward.bytes,
    params: backward.params,
    loraDropout: options.loraDropout,
  };
}

export { INPUT_NAME };
