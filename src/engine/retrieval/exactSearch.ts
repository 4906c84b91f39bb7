/**
 * Exact nearest-neighbour search by cosine similarity, in chunks.
 *
 * The gallery is L2-normalised and cut into column chunks stored transposed
 * ([d, chunk]) once, so that every similarity block is a plain
 * `matMul(queries [q, d], galleryT [d, chunk])`: on the wasm backend that runs
 * ~30 GFLOP/s where `transposeB` runs ~2. Memory holds one block of
 * queryChunk x galleryChunk similarities at a time plus the per-query top-k
 * buffers (2k entries each), never a whole query x gallery matrix.
 *
 * Needs an active tf backend (`activateBackend`). Ties: see topk.ts.
 */
import { tf, type Tensor2D } from '../backend/tf';
import { checkEmbeddings, l2NormalizeRows, transposeRows, type EmbeddingMatrix } from './embeddings';
import { withTensorValues } from './readBlock';
import { TopKTable, type TopKResult } from './topk';

export interface GalleryChunk {
  start: number;
  size: number;
  /** Rows [start, start + size) of the normalised gallery, transposed: [d, size]. */
  transposed: Float32Array;
}

/** A gallery ready to be searched many times. */
export interface PreparedGallery {
  n: number;
  d: number;
  chunks: GalleryChunk[];
  /** The chunks as tf tensors, kept between searches (keepOnDevice); else uploaded per search. */
  tensors?: Tensor2D[];
}

/**
 * Keep the gallery's chunks in tf memory, so that each search skips the upload
 * (for one query against 60k images the upload is most of the time). Free with
 * releaseFromDevice.
 */
export function keepOnDevice(gallery: PreparedGallery): void {
  gallery.tensors ??= gallery.chunks.map((c) => tf.tensor2d(c.transposed, [gallery.d, c.size]));
}

export function releaseFromDevice(gallery: PreparedGallery): void {
  for (const t of gallery.tensors ?? []) t.dispose();
  delete gallery.tensors;
}

export const DEFAULT_GALLERY_CHUNK = 4096;
export const DEFAULT_QUERY_CHUNK = 256;

/** Normalise and transpose the gallery in chunks of `chunkSize` rows. */
export function prepareGallery(gallery: EmbeddingMatrix, chunkSize = DEFAULT_GALLERY_CHUNK): PreparedGallery {
  checkEmbeddings(gallery, 'gallery embeddings');
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new Error(`gallery chunk size must be a positive integer, got ${chunkSize}`);
  const normalised = l2NormalizeRows(gallery);
  const chunks: GalleryChunk[] = [];
  for (let start = 0; start < gallery.n; start += chunkSize) {
    const end = Math.min(gallery.n, start + chunkSize);
    chunks.push({ start, size: end - start, transposed: transposeRows(normalised, start, end) });
  }
  return { n: gallery.n, d: gallery.d, chunks };
}

export interface SearchOptions {
  /** Neighbours per query; clipped to the number of gallery items a query can see. */
  k: number;
  /** Queries per matMul (rows of a similarity block). */
  queryChunk?: number;
  /**
   * Gallery index each query must not return (e.g. itself, when the queries
   * are the gallery), or -1. Length = number of queries.
   */
  exclude?: Int32Array;
}

/** Top-k gallery items for every query, best first (see TopKResult; `k` is the clipped k). */
export function searchExact(queries: EmbeddingMatrix, gallery: PreparedGallery, options: SearchOptions): TopKResult {
  checkEmbeddings(queries, 'query embeddings');
  if (queries.d !== gallery.d)
    throw new Error(
      `query embeddings have ${queries.d} dimensions, the gallery ${gallery.d}; they must come from the same model`,
    );
  if (!Number.isInteger(options.k) || options.k < 1) throw new Error(`k must be a positive integer, got ${options.k}`);
  const exclude = options.exclude;
  if (exclude && exclude.length !== queries.n)
    throw new Error(`exclude has ${exclude.length} entries for ${queries.n} queries`);
  const queryChunk = options.queryChunk ?? DEFAULT_QUERY_CHUNK;
  if (!Number.isInteger(queryChunk) || queryChunk < 1)
    throw new Error(`query chunk size must be a positive integer, got ${queryChunk}`);
  const k = Math.max(1, Math.min(options.k, gallery.n - (exclude ? 1 : 0)));

  const normalised = l2NormalizeRows(queries);
  const d = queries.d;
  const indices = new Int32Array(queries.n * k).fill(-1);
  const scores = new Float32Array(queries.n * k).fill(NaN);
  const counts = new Int32Array(queries.n);
  if (gallery.n === 0) return { k, indices, scores, counts };

  const resident = gallery.tensors;
  const galleryTensors = resident ?? gallery.chunks.map((c) => tf.tensor2d(c.transposed, [d, c.size]));
  try {
    for (let q0 = 0; q0 < queries.n; q0 += queryChunk) {
      const q1 = Math.min(queries.n, q0 + queryChunk);
      const rows = q1 - q0;
      const table = new TopKTable(rows, k);
      const queryTensor = tf.tensor2d(normalised.data.subarray(q0 * d, q1 * d), [rows, d]);
      try {
        for (let c = 0; c < gallery.chunks.length; c++) {
          const chunk = gallery.chunks[c]!;
          const block = tf.matMul(queryTensor, galleryTensors[c]!);
          try {
            withTensorValues(block, (sims) => offerBlock(table, sims, rows, chunk.start, chunk.size, exclude, q0));
          } finally {
            block.dispose();
          }
        }
      } finally {
        queryTensor.dispose();
      }
      const part = table.result();
      indices.set(part.indices, q0 * k);
      scores.set(part.scores, q0 * k);
      counts.set(part.counts, q0);
    }
  } finally {
    if (!resident) for (const t of galleryTensors) t.dispose();
  }
  return { k, indices, scores, counts };
}

function offerBlock(
  table: TopKTable,
  sims: Float32Array,
  rows: number,
  start: number,
  size: number,
  exclude: Int32Array | undefined,
  q0: number,
): void {
  const thresholdScore = table.thresholdScore;
  const thresholdId = table.thresholdId;
  for (let r = 0; r < rows; r++) {
    const skip = exclude ? exclude[q0 + r]! : -1;
    let ts = thresholdScore[r]!;
    let ti = thresholdId[r]!;
    const off = r * size;
    for (let c = 0; c < size; c++) {
      const s = sims[off + c]!;
      // Inline threshold test: most candidates stop here.
      if (s < ts) continue;
      const id = start + c;
      if (s === ts && id > ti) continue;
      if (id === skip) continue;
      if (table.offer(r, s, id)) {
        ts = thresholdScore[r]!;
        ti = thresholdId[r]!;
      }
    }
  }
}
