/**
 * Embedding pixel batches with an ONNX file written by `vembed export onnx`
 * (any precision): input `pixel_values` NCHW float32 at the file's fixed
 * size, output `embedding`. The engine's batches are NHWC, so each is
 * transposed first. Used to measure an exported file exactly as the engine's
 * own graph is measured (`vembed benchmark sop --onnx FILE`).
 */
import * as fs from 'node:fs';
import type { PixelBatch } from '../model/types';
import { INPUT_NAME, OUTPUT_NAME } from './dinov2Graph';
import { createOnnxSession, type OnnxDevice, type OnnxSession } from './runtime';

/** NHWC -> NCHW. */
export function nhwcToNchw(data: Float32Array, n: number, h: number, w: number, c = 3): Float32Array {
  const out = new Float32Array(data.length);
  const plane = h * w;
  for (let i = 0; i < n; i++)
    for (let p = 0; p < plane; p++)
      for (let k = 0; k < c; k++) out[(i * c + k) * plane + p] = data[(i * plane + p) * c + k]!;
  return out;
}

export class OnnxFileEmbedder {
  private constructor(
    readonly file: string,
    private readonly session: OnnxSession,
  ) {}

  static async create(file: string, options: { device: OnnxDevice; threads: number }): Promise<OnnxFileEmbedder> {
    const session = await createOnnxSession(fs.readFileSync(file), options);
    if (!session.inputNames.includes(INPUT_NAME)) {
      await session.release();
      throw new Error(
        `${file} has no input ${INPUT_NAME} (inputs: ${session.inputNames.join(', ')}); export it with \`vembed export onnx\``,
      );
    }
    return new OnnxFileEmbedder(file, session);
  }

  /** [n, D] row-major embeddings. */
  async embed(pixels: PixelBatch): Promise<Float32Array> {
    const { n, height, width } = pixels;
    const out = await this.session.run(
      { [INPUT_NAME]: { data: nhwcToNchw(pixels.data, n, height, width), dims: [n, 3, height, width] } },
      OUTPUT_NAME,
    );
    return out.data;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
