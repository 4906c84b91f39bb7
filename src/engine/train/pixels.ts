/**
 * Where a batch's pixels come from. Either a whole PixelBatch on the CPU
 * (uploaded to the backend one chunk at a time), or a callback that produces
 * a chunk's tensor on demand, so that a 128-pair batch at 224 px
 * (128 x 224 x 224 x 3 floats = 77 MB per side) never has to sit on the
 * tf heap at once.
 */
import { tf, type Tensor4D } from '../backend/tf';
import type { PixelBatch } from '../model/types';

/**
 * Pixels produced chunk by chunk. `chunk` must return the same pixels every
 * time it is asked for the same range (the gradient cache asks twice: once
 * without and once with gradients), so any augmentation must be drawn before
 * or seeded by the range. The returned tensor is owned (and disposed) by the caller.
 */
export interface ChunkedPixels {
  readonly n: number;
  chunk(start: number, count: number): Tensor4D;
}

export type PixelSource = PixelBatch | ChunkedPixels;

function isPixelBatch(source: PixelSource): source is PixelBatch {
  return (source as PixelBatch).data instanceof Float32Array;
}

export function pixelCount(source: PixelSource): number {
  return source.n;
}

/**
 * Images [start, start + count) of a batch, a view of its array, after checking the array holds what the batch says.
 */
function batchSlice(batch: PixelBatch, start: number, count: number, what: string): PixelBatch {
  const { height, width, data, n } = batch;
  const perImage = height * width * 3;
  if (data.length !== n * perImage) {
    throw new Error(
      `${what}: the pixel batch says ${n} x ${height} x ${width} x 3 = ${n * perImage} floats but holds ${data.length}.`,
    );
  }
  return { data: data.subarray(start * perImage, (start + count) * perImage), n: count, height, width };
}

/** Pixels [start, start + count) of `source` as a new [count, H, W, 3] tensor. */
export function uploadChunk(source: PixelSource, start: number, count: number, what: string): Tensor4D {
  if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= source.n)) {
    throw new Error(`${what}: chunk [${start}, ${start + count}) is outside the batch of ${source.n} images.`);
  }
  if (isPixelBatch(source))
    return tf.tensor4d(batchSlice(source, start, count, what).data, [count, source.height, source.width, 3], 'float32');
  const chunk = source.chunk(start, count);
  if (chunk.rank !== 4 || chunk.shape[0] !== count || chunk.shape[3] !== 3) {
    const shape = `[${chunk.shape}]`;
    chunk.dispose();
    throw new Error(
      `${what}: the pixel callback returned a ${shape} tensor for chunk [${start}, ${start + count}); expected [${count}, H, W, 3].`,
    );
  }
  return chunk;
}

export interface ChunkRange {
  index: number;
  start: number;
  count: number;
}

/** Consecutive chunks of at most `chunkSize` covering [0, n); the last one may be shorter. */
export function chunkRanges(n: number, chunkSize: number): ChunkRange[] {
  if (!(Number.isInteger(chunkSize) && chunkSize >= 1)) {
    throw new Error(`gradient_cache_chunk_size must be an integer >= 1, got ${chunkSize}.`);
  }
  const ranges: ChunkRange[] = [];
  for (let start = 0, index = 0; start < n; start += chunkSize, index++) {
    ranges.push({ index, start, count: Math.min(chunkSize, n - start) });
  }
  return ranges;
}

/**
 * Pixels decoded when a chunk is needed, for training on the CPU backends:
 * a batch's pixels never sit in memory at once (a 128-pair batch at 224 px
 * is 154 MB of floats; 1,024 pairs would be 1.2 GB), so memory does not grow
 * with batch_size. The gradient cache asks for each chunk twice, so `load`
 * must give the same pixels for the same range every time (augmentation
 * seeded per image).
 */
export interface LoadablePixels {
  readonly n: number;
  load(start: number, count: number): Promise<PixelBatch>;
}

export type AnyPixelSource = PixelSource | LoadablePixels;

export function isLoadable(source: AnyPixelSource): source is LoadablePixels {
  return typeof (source as LoadablePixels).load === 'function';
}

/** Pixels [start, start + count) of any source, on the CPU. */
export async function chunkPixels(
  source: AnyPixelSource,
  start: number,
  count: number,
  what: string,
): Promise<PixelBatch> {
  if (isLoadable(source)) {
    const px = await source.load(start, count);
    if (px.n !== count || px.data.length !== count * px.height * px.width * 3) {
      throw new Error(
        `${what}: loading chunk [${start}, ${start + count}) gave ${px.n} images (${px.data.length} floats); expected ${count}.`,
      );
    }
    return px;
  }
  if (isPixelBatch(source)) return batchSlice(source, start, count, what);
  const t = uploadChunk(source, start, count, what);
  try {
    const [, height, width] = t.shape;
    return { data: t.dataSync() as Float32Array, n: count, height, width };
  } finally {
    t.dispose();
  }
}
