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

/** Pixels [start, start + count) of `source` as a new [count, H, W, 3] tensor. */
export function uploadChunk(source: PixelSource, start: number, count: number, what: string): Tensor4D {
  if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= source.n)) {
    throw new Error(`${what}: chunk [${start}, ${start + count}) is outside the batch of ${source.n} images.`);
  }
  if (isPixelBatch(source)) {
    const { height, width, data, n } = source;
    const perImage = height * width * 3;
    if (data.length !== n * perImage) {
      throw new Error(`${what}: the pixel batch says ${n} x ${height} x ${width} x 3 = ${n * perImage} floats but holds ${data.length}.`);
    }
    return tf.tensor4d(data.subarray(start * perImage, (start + count) * perImage), [count, height, width, 3], 'float32');
  }
  const chunk = source.chunk(start, count);
  if (chunk.rank !== 4 || chunk.shape[0] !== count || chunk.shape[3] !== 3) {
    const shape = `[${chunk.shape}]`;
    chunk.dispose();
    throw new Error(`${what}: the pixel callback returned a ${shape} tensor for chunk [${start}, ${start + count}); expected [${count}, H, W, 3].`);
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
