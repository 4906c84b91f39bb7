/** Embedding a list of images with an encoder: the shared path of evaluation, `embed`, `index build` and `search`. */
import { tf } from '../backend/tf';
import type { ImageEncoder } from '../model/types';
import type { ImageLoader } from '../image/loader';
import { prefetchBatches } from '../image/prefetch';

export interface EmbedOptions {
  batchSize: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** [N, D] row-major embeddings (pooled, not normalised), in the order of `paths`. */
export async function embedImages(encoder: ImageEncoder, loader: ImageLoader, paths: readonly string[], options: EmbedOptions): Promise<Float32Array> {
  const d = encoder.embeddingDim;
  const out = new Float32Array(paths.length * d);
  const size = encoder.processing.imageSize;
  const batches: { start: number; paths: readonly string[] }[] = [];
  for (let start = 0; start < paths.length; start += options.batchSize) batches.push({ start, paths: paths.slice(start, start + options.batchSize) });
  let done = 0;
  // Decode the next batch in the workers while this one runs through the model.
  const loaded = prefetchBatches(batches, async (b) => ({ b, pixels: await loader.load(b.paths.map((p) => ({ path: p, transform: { kind: 'eval' as const } }))) }));
  for await (const { b, pixels } of loaded) {
    if (options.signal?.aborted) throw new EmbeddingAborted();
    const emb = tf.tidy(() => encoder.embed(tf.tensor4d(pixels.data, [pixels.n, size, size, 3])));
    out.set(await emb.data(), b.start * d);
    emb.dispose();
    done += b.paths.length;
    options.onProgress?.(done, paths.length);
  }
  return out;
}

export class EmbeddingAborted extends Error {
  constructor() {
    super('embedding stopped by a signal');
  }
}
