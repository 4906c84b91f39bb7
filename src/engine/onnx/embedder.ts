/**
 * Embedding pixel batches with ONNX Runtime: the seam "embed these
 * preprocessed pixel batches with this model" (run/embed.ts's
 * `pixelEmbedder`), implemented by a graph built from the encoder's current
 * weights (dinov2Graph.ts), one session per input size.
 *
 * The graph takes the engine's own NHWC batches, so no copy is made to feed
 * it. Its weights are a snapshot: after the encoder's weights change
 * (training), build a new embedder.
 */
import type { Dinov2ImageEncoder } from '../model/encoder';
import type { PixelBatch } from '../model/types';
import { dinov2OnnxModel, INPUT_NAME, OUTPUT_NAME } from './dinov2Graph';
import { createOnnxSession, type OnnxDevice, type OnnxSession } from './runtime';

export interface OnnxEmbedderOptions {
  device: OnnxDevice;
  /** Intra-op threads. */
  threads: number;
}

export class OnnxPixelEmbedder {
  private readonly sessions = new Map<string, Promise<OnnxSession>>();

  private constructor(
    private readonly encoder: Dinov2ImageEncoder,
    private readonly options: OnnxEmbedderOptions,
  ) {}

  /** An embedder whose session for the encoder's own input size is ready (so a provider that fails, fails here). */
  static async create(encoder: Dinov2ImageEncoder, options: OnnxEmbedderOptions): Promise<OnnxPixelEmbedder> {
    const e = new OnnxPixelEmbedder(encoder, options);
    const size = encoder.processing.imageSize;
    try {
      await e.session(size, size);
    } catch (err) {
      await e.release();
      throw err;
    }
    return e;
  }

  private session(height: number, width: number): Promise<OnnxSession> {
    const key = `${height}x${width}`;
    let s = this.sessions.get(key);
    if (!s) {
      // The model bytes are only needed until the session has read them.
      s = createOnnxSession(
        dinov2OnnxModel(this.encoder, { height, width, layout: 'nhwc' }, 'engine').toBytes(),
        this.options,
      );
      this.sessions.set(key, s);
    }
    return s;
  }

  /** [n, D] row-major embeddings (pooled, projected, not normalised), as embedPixels returns them. */
  async embed(pixels: PixelBatch): Promise<Float32Array> {
    const s = await this.session(pixels.height, pixels.width);
    const out = await s.run(
      { [INPUT_NAME]: { data: pixels.data, dims: [pixels.n, pixels.height, pixels.width, 3] } },
      OUTPUT_NAME,
    );
    return out.data;
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => null))?.release()));
  }
}
