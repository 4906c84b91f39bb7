/**
 * Parameter gradients of the embedding loss for one batch of pairs, two ways:
 *
 * - `plainGradients`: one tape over the whole batch. Activation memory grows
 *   with the batch; the reference, and cheapest for small batches.
 * - `cachedGradients`, the gradient cache (Gao et al., "Scaling Deep
 *   Contrastive Learning Batch Size under Memory Limited Setup", 2021):
 *   1. embed every chunk without a tape and keep only the [n, D] embeddings;
 *   2. compute the loss and dLoss/dEmbeddings for the full batch;
 *   3. re-embed each chunk with a tape and back-propagate
 *      sum(embedding * cached gradient), adding up the parameter gradients.
 *   By the chain rule the sum equals the plain gradient, while activations
 *   exist for one chunk at a time.
 *
 * Both embed in the same chunks with the same per-chunk dropout seeds, so
 * with dropout on they see the same masks and agree; masks do depend on the
 * chunk size.
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../backend/tf';
import type { ImageEncoder } from '../model/types';
import { embeddingLoss, type BatchLabels, type LossConfig } from './loss';
import { chunkRanges, pixelCount, uploadChunk, type ChunkRange, type PixelSource } from './pixels';
import { chunkDropoutSeed, type PairSide } from './seeds';

/** One optimizer step's worth of (query, positive) pairs. */
export interface PairBatch {
  queries: PixelSource;
  positives: PixelSource;
  /** One per pair (e.g. SOP class id); pairs sharing a label are positives of each other. */
  labels?: BatchLabels;
}

export interface GradientOptions {
  loss: LossConfig;
  /** Images per forward pass. */
  chunkSize: number;
  /** Training mode (dropout on). */
  training: boolean;
  /** Run seed and step number, from which each chunk's dropout seed is derived. */
  seed: number;
  step: number;
}

/**
 * One parameter's gradient, in the parameter's shape: a TF.js tensor (the
 * TF.js paths), or its values in this process's memory, row-major (ONNX
 * Runtime's outputs, which clipping and AdamW read there anyway: no round
 * trip through the backend).
 */
export type Gradient = Tensor | Float32Array;

/** A gradient's values (a tensor's read back from the backend; host values as they are, not copied). */
export function gradientValues(g: Gradient): Float32Array {
  return g instanceof Float32Array ? g : (g.dataSync() as Float32Array);
}

/** Free the tensors among `grads` (host values need nothing). */
export function disposeGradients(grads: Iterable<Gradient>): void {
  for (const g of grads) if (!(g instanceof Float32Array)) g.dispose();
}

/** A batch's loss and gradients: TF.js tensors from the TF.js paths, host values from ONNX Runtime's. */
export interface BatchGradients<G extends Gradient = Gradient> {
  loss: number;
  /**
   * Gradients by parameter name, owned by the caller (disposeGradients). A
   * parameter the loss does not depend on has no entry. Empty when the loss
   * is not finite: nothing should be applied then, and the cache skips its
   * expensive second pass.
   */
  grads: Map<string, G>;
}

/** Number of pairs, after checking both sides agree. */
export function batchSize(batch: { queries: { readonly n: number }; positives: { readonly n: number } }): number {
  const n = batch.queries.n;
  if (batch.positives.n !== n) {
    throw new Error(`A batch must hold pairs: ${n} query images but ${batch.positives.n} positive images.`);
  }
  if (n < 1) throw new Error('A training batch needs at least one pair.');
  return n;
}

export function trainableList(encoder: ImageEncoder): Array<[string, Variable]> {
  const vars = [...encoder.trainableVariables()].filter(([, v]) => v.trainable);
  if (vars.length === 0)
    throw new Error(
      'The encoder has no trainable variables: nothing to train (with use_lora, check lora_target_modules).',
    );
  return vars;
}

/** variableGrads keys gradients by tf variable name; give them back their parameter names. */
function byParameterName(named: Record<string, Tensor | null>, vars: Array<[string, Variable]>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, v] of vars) {
    const g = named[v.name];
    if (g) out.set(name, g);
  }
  return out;
}

/** One chunk of one side, embedded with that chunk's dropout seed; recorded on the tape when one is active. */
export function embedChunk(
  encoder: ImageEncoder,
  source: PixelSource,
  side: PairSide,
  range: ChunkRange,
  options: Pick<GradientOptions, 'training' | 'seed' | 'step'>,
): Tensor2D {
  const pixels = uploadChunk(source, range.start, range.count, `${side} images`);
  try {
    return encoder.embed(pixels, {
      training: options.training,
      dropoutSeed: chunkDropoutSeed(options.seed, options.step, side, range.index),
    });
  } finally {
    pixels.dispose();
  }
}

/**
 * The gradient cache's second pass over one chunk: parameter gradients of
 * sum(embedding * upstream), upstream being dLoss/dEmbedding for the chunk
 * ([count, D]). Gradients by parameter name, owned by the caller.
 */
export function chunkParameterGradients(
  encoder: ImageEncoder,
  vars: Array<[string, Variable]>,
  source: PixelSource,
  side: PairSide,
  range: ChunkRange,
  upstream: Tensor2D,
  options: Pick<GradientOptions, 'training' | 'seed' | 'step'>,
): Map<string, Tensor> {
  const { value: surrogate, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(embedChunk(encoder, source, side, range, options), upstream)),
    vars.map(([, v]) => v),
  );
  surrogate.dispose();
  return byParameterName(grads, vars);
}

/** Add `add` into `total`, per name (disposing what it replaces and what it adds). */
export function accumulateGradients(total: Map<string, Tensor>, add: Map<string, Tensor>): void {
  for (const [name, g] of add) {
    const prev = total.get(name);
    if (prev) {
      total.set(name, tf.add(prev, g));
      prev.dispose();
      g.dispose();
    } else {
      total.set(name, g);
    }
  }
}

/**
 * The full-batch loss and its gradient with respect to both sides'
 * embeddings (the gradient cache's middle step). Disposes the embeddings.
 * The gradients are null when the loss is not finite.
 */
export function lossAndEmbeddingGradients(
  queries: Tensor2D,
  positives: Tensor2D,
  batch: Pick<PairBatch, 'labels'>,
  options: Pick<GradientOptions, 'loss'>,
): { loss: number; grads: [Tensor2D, Tensor2D] | null } {
  let lossAndGrads: { value: Tensor; grads: Tensor[] };
  try {
    lossAndGrads = tf.valueAndGrads((q: Tensor, p: Tensor) =>
      embeddingLoss(options.loss, q as Tensor2D, p as Tensor2D, batch.labels),
    )([queries, positives]);
  } finally {
    queries.dispose();
    positives.dispose();
  }
  const { value, grads } = lossAndGrads;
  const loss = value.dataSync()[0]!;
  value.dispose();
  if (!Number.isFinite(loss)) {
    for (const g of grads) g.dispose();
    return { loss, grads: null };
  }
  return { loss, grads: grads as [Tensor2D, Tensor2D] };
}

/** All embeddings of one side, chunk by chunk; recorded on the tape when one is active. */
export function embedSide(
  encoder: ImageEncoder,
  source: PixelSource,
  side: PairSide,
  options: GradientOptions,
): Tensor2D {
  const parts = chunkRanges(pixelCount(source), options.chunkSize).map((r) =>
    tf.tidy(() => embedChunk(encoder, source, side, r, options)),
  );
  if (parts.length === 1) return parts[0]!;
  const all = tf.concat(parts, 0);
  for (const p of parts) p.dispose();
  return all;
}

export function plainGradients(
  encoder: ImageEncoder,
  batch: PairBatch,
  options: GradientOptions,
): BatchGradients<Tensor> {
  batchSize(batch);
  const vars = trainableList(encoder);
  const { value, grads } = tf.variableGrads(
    () => {
      const q = embedSide(encoder, batch.queries, 'query', options);
      const p = embedSide(encoder, batch.positives, 'positive', options);
      return embeddingLoss(options.loss, q, p, batch.labels);
    },
    vars.map(([, v]) => v),
  );
  const loss = value.dataSync()[0]!;
  value.dispose();
  const named = byParameterName(grads, vars);
  if (!Number.isFinite(loss)) {
    for (const g of named.values()) g.dispose();
    return { loss, grads: new Map() };
  }
  return { loss, grads: named };
}

export function cachedGradients(
  encoder: ImageEncoder,
  batch: PairBatch,
  options: GradientOptions,
): BatchGradients<Tensor> {
  batchSize(batch);
  const vars = trainableList(encoder);
  const sides: Array<[PairSide, PixelSource]> = [
    ['query', batch.queries],
    ['positive', batch.positives],
  ];

  // 1. Embeddings without a tape: only [n, D] per side stays alive.
  const [queries, positives] = sides.map(([side, source]) => embedSide(encoder, source, side, options)) as [
    Tensor2D,
    Tensor2D,
  ];

  // 2. The full-batch loss and its gradient with respect to the embeddings.
  const { loss, grads: embeddingGrads } = lossAndEmbeddingGradients(queries, positives, batch, options);
  if (!embeddingGrads) return { loss, grads: new Map() };

  // 3. Re-embed chunk by chunk with a tape; the cached gradient closes the chain rule.
  const total = new Map<string, Tensor>();
  try {
    sides.forEach(([side, source], s) => {
      const dEmbedding = embeddingGrads[s]!;
      for (const range of chunkRanges(pixelCount(source), options.chunkSize)) {
        const upstream = tf.slice(dEmbedding, [range.start, 0], [range.count, dEmbedding.shape[1]]);
        try {
          accumulateGradients(total, chunkParameterGradients(encoder, vars, source, side, range, upstream, options));
        } finally {
          upstream.dispose();
        }
      }
    });
  } catch (e) {
    for (const g of total.values()) g.dispose();
    throw e;
  } finally {
    for (const g of embeddingGrads) g.dispose();
  }
  return { loss, grads: total };
}
