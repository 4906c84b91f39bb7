/**
 * One batch of preprocessed pixels through an encoder: the step shared by the main thread and the embedding workers.
 */
import { tf } from '../backend/tf';
import type { ImageEncoder, PixelBatch } from '../model/types';

/**
 * Images per forward pass on the CPU backends (wasm, cpu). A forward pass's
 * temporaries grow with its images (DINOv2-small: ~25 MB an image at 224 px)
 * and the wasm heap never gives memory back, so larger passes only cost
 * memory: 8 images already make every matMul large enough to run at full
 * speed. Embeddings do not depend on how a batch is split (each image's rows
 * are computed independently; checked bit for bit in the tests).
 */
export const MAX_IMAGES_PER_PASS = 8;

/** [n, D] row-major embeddings (pooled, projected if the encoder has a head; not normalised). */
export async function embedPixels(encoder: ImageEncoder, pixels: PixelBatch): Promise<Float32Array> {
  const { n, height, width } = pixels;
  const per = height * width * 3;
  const step = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu' ? MAX_IMAGES_PER_PASS : n;
  const out = new Float32Array(n * encoder.embeddingDim);
  for (let start = 0; start < n; start += step) {
    const count = Math.min(step, n - start);
    const emb = tf.tidy(() =>
      encoder.embed(tf.tensor4d(pixels.data.subarray(start * per, (start + count) * per), [count, height, width, 3])),
    );
    try {
      out.set((await emb.data()) as Float32Array, start * encoder.embeddingDim);
    } finally {
      emb.dispose();
    }
  }
  return out;
}
