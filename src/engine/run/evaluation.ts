/**
 * Evaluation during training: the SOP protocol (every image queries all the
 * others) on the distinct images of the validation file, each labelled with
 * its record's product. Records without a label make their query and positive
 * a product of their own.
 */
import * as path from 'node:path';
import type { PairRecord } from '../data/pairDataset';
import { denseLabelIds } from '../data/pairDataset';
import type { ImageEncoder, PixelBatch } from '../model/types';
import type { ImageLoader } from '../image/loader';
import { evaluateRetrieval } from '../retrieval/evaluate';
import { writeSopOutputs } from '../retrieval/sopReport';
import { buildIndex } from '../retrieval/imageIndex';
import { writeJsonAtomic } from '../../shared/fs/atomic';
import { embedImages } from './embed';
import { Dinov2ImageEncoder } from '../model/encoder';
import { OnnxPixelEmbedder } from '../onnx/embedder';
import type { OnnxChoice } from '../onnx/backendChoice';

export interface EvaluationSet {
  paths: string[];
  /** Dense class ids for the protocol. */
  labels: Int32Array;
  /** The labels as the data file wrote them (product ids), for the panel; null where it had none. */
  originalLabels: (number | string | null)[];
}

/** The distinct images of a pair file with their labels (first occurrence wins). */
export function evaluationSet(records: readonly PairRecord[]): EvaluationSet {
  const ids = denseLabelIds(records);
  const labelOf = new Map<string, { id: number; original: number | string | null }>();
  records.forEach((r, i) => {
    for (const p of [r.query, r.positive]) if (!labelOf.has(p)) labelOf.set(p, { id: ids[i]!, original: r.label });
  });
  const entries = [...labelOf.values()];
  return {
    paths: [...labelOf.keys()],
    labels: Int32Array.from(entries, (e) => e.id),
    originalLabels: entries.map((e) => e.original),
  };
}

/** During training only these Ks: Recall@1000 means little on a validation set. */
export const TRAINING_RECALL_KS = [1, 10, 100] as const;

export interface EvaluationResult {
  metrics: Record<string, number>;
  numImages: number;
  numValidQueries: number;
  reportPath: string;
  /** The latest evaluation's neighbours and search index (for the results panel's gallery and search). */
  neighboursPath: string;
  indexDir: string;
  seconds: number;
}

/**
 * Folders (in output_dir): the latest evaluation's embeddings, neighbours and index; epoch 0's outputs, kept for
 * the panel's embeddings map and error analysis. Named in src/shared/runs, where deleting a run reads them too.
 */
import { LATEST_EVAL_DIR, BEFORE_EVAL_DIR } from '../../shared/runs/runFolder';
export { LATEST_EVAL_DIR, BEFORE_EVAL_DIR };

export async function evaluateEncoder(
  encoder: ImageEncoder,
  loader: ImageLoader,
  set: EvaluationSet,
  options: {
    batchSize: number;
    outputDir: string;
    epoch: number;
    imageRoot: string;
    allowOutsideRoot?: boolean;
    model: string;
    backend: string;
    /** Embed with ONNX Runtime: a graph built from the encoder's weights as they are now. */
    onnx?: OnnxChoice | null;
    /** Embeds the preprocessed batches instead (the torch engine's ranks); ONNX Runtime is then not started. */
    pixelEmbedder?: (pixels: PixelBatch) => Promise<Float32Array>;
    /** Told when ONNX Runtime was asked for and could not run (the evaluation goes on with TF.js). */
    onNote?: (message: string) => void;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<EvaluationResult> {
  const started = performance.now();
  let onnx: OnnxPixelEmbedder | null = null;
  if (!options.pixelEmbedder && options.onnx && encoder instanceof Dinov2ImageEncoder) {
    try {
      onnx = await OnnxPixelEmbedder.create(encoder, options.onnx);
    } catch (e) {
      options.onNote?.(
        `evaluating with TF.js: ONNX Runtime (${options.onnx.name}) could not run the model (${(e as Error).message.split('\n')[0]})`,
      );
    }
  }
  let data: Float32Array;
  try {
    data = await embedImages(encoder, loader, set.paths, {
      batchSize: options.batchSize,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.pixelEmbedder
        ? { pixelEmbedder: options.pixelEmbedder }
        : onnx
          ? { pixelEmbedder: onnx.embed.bind(onnx) }
          : {}),
    });
  } finally {
    await onnx?.release();
  }
  const r = await evaluateRetrieval({ data, n: set.paths.length, d: encoder.embeddingDim }, set.labels, {
    recallKs: TRAINING_RECALL_KS,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const reportPath = path.join(options.outputDir, `eval-epoch-${options.epoch}.json`);
  const seconds = (performance.now() - started) / 1000;
  writeJsonAtomic(reportPath, {
    epoch: options.epoch,
    ...r.metrics,
    num_images: r.numImages,
    num_valid_queries: r.numValidQueries,
    seconds,
  });
  // The panel's query gallery and search by image use these; each evaluation replaces the last.
  const latest = path.join(options.outputDir, LATEST_EVAL_DIR);
  // Paths inside the image root are stored relative to it; others (allow_absolute_paths) absolute.
  const records = set.paths.map((p, i) => {
    const rel = path.relative(options.imageRoot, p);
    const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    return { path: inside ? rel : p, label: set.originalLabels[i] ?? set.labels[i]! };
  });
  const embeddings = { data, n: set.paths.length, d: encoder.embeddingDim };
  const outputs = {
    evaluation: r,
    embeddings,
    labels: set.labels,
    records,
    imageRoot: options.imageRoot,
    run: { model: options.model, backend: options.backend, epoch: options.epoch },
  };
  const files = writeSopOutputs(latest, outputs);
  if (options.epoch === 0) writeSopOutputs(path.join(options.outputDir, BEFORE_EVAL_DIR), outputs);
  const indexDir = path.join(latest, 'index');
  buildIndex(indexDir, {
    embeddings,
    records,
    model: { name: options.model },
    imageRoot: options.imageRoot,
    allowOutsideRoot: options.allowOutsideRoot === true,
  });
  return {
    metrics: r.metrics,
    numImages: r.numImages,
    numValidQueries: r.numValidQueries,
    reportPath,
    neighboursPath: files.neighbours,
    indexDir,
    seconds,
  };
}
