/**
 * The contract between the model (src/engine/model), the image pipeline
 * (src/engine/image) and training (src/engine/train).
 */
import type { Tensor2D, Tensor4D, Variable } from '../backend/tf';

/**
 * A batch of preprocessed images: float32, NHWC ([n, height, width, 3]),
 * already rescaled and normalised with the model's mean/std.
 */
export interface PixelBatch {
  data: Float32Array;
  n: number;
  height: number;
  width: number;
}

/** What the image pipeline needs to know about a model to feed it. */
export interface ImageProcessing {
  /** Square input size in pixels (a multiple of the patch size). */
  imageSize: number;
  /** Shortest edge before the center crop, for evaluation (DINOv2: 256 for a 224 crop). */
  resizeShortestEdge: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** 1/255 for DINOv2. */
  rescaleFactor: number;
}

export interface ImageEncoder {
  /** Size of the embeddings `embed` returns (after the projection head, if any). */
  readonly embeddingDim: number;
  readonly processing: ImageProcessing;
  /**
   * [n, H, W, 3] -> [n, D]: pooled (and projected) embeddings, not normalised.
   * `training` turns on dropout (LoRA dropout); everything else is deterministic.
   * `dropoutSeed` fixes the dropout masks, so that the gradient cache's second
   * pass over a chunk reproduces the first exactly.
   */
  embed(pixels: Tensor4D, options?: { training?: boolean; dropoutSeed?: number }): Tensor2D;
  /**
   * The variables an optimizer updates, by their Hugging Face / PEFT tensor
   * names (e.g. `encoder.layer.0.attention.attention.query.lora_A.weight`), so
   * that weight decay can exclude biases and norm weights by name.
   */
  trainableVariables(): Map<string, Variable>;
  dispose(): void;
}
