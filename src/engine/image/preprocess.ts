/**
 * Evaluation preprocessing, exactly as Hugging Face's BitImageProcessor (the
 * DINOv2 processor) does it:
 *   1. resize so the shortest edge is `resizeShortestEdge` (the long edge is
 *      `int(size * long / short)`, truncated), Pillow bicubic;
 *   2. center crop `imageSize` x `imageSize` (top/left offsets floor((in - out) / 2);
 *      an image smaller than the crop is padded with zeros, as HF does);
 *   3. rescale: float64 product with `rescaleFactor`, stored as float32;
 *   4. normalise in float32: (x - mean) / std.
 * Given the same RGB pixels, the output equals HF's bit for bit.
 */
import type { ImageProcessing } from '../model/types';
import type { RgbImage } from './decode';
import { resizeBicubic } from './resample';

/** Size after the shortest-edge resize, HF's `get_resize_output_image_size(default_to_square=False)`. */
export function shortestEdgeSize(width: number, height: number, shortest: number): { width: number; height: number } {
  if (width <= height) return { width: shortest, height: Math.trunc((shortest * height) / width) };
  return { width: Math.trunc((shortest * width) / height), height: shortest };
}

/** Resize + center crop, in 8-bit RGB (steps 1 and 2). */
export function evalResizeCrop(img: RgbImage, p: Pick<ImageProcessing, 'imageSize' | 'resizeShortestEdge'>): RgbImage {
  const { width: rw, height: rh } = shortestEdgeSize(img.width, img.height, p.resizeShortestEdge);
  const crop = p.imageSize;
  const top = Math.floor((rh - crop) / 2);
  const left = Math.floor((rw - crop) / 2);
  // The part of the resized image inside the crop window.
  const y0 = Math.max(0, top);
  const x0 = Math.max(0, left);
  const y1 = Math.min(rh, top + crop);
  const x1 = Math.min(rw, left + crop);
  const inside = resizeBicubic(img, rw, rh, undefined, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  if (inside.width === crop && inside.height === crop) return inside;
  // Smaller than the crop: zero padding around it.
  const out = new Uint8Array(crop * crop * 3);
  for (let y = 0; y < inside.height; y++) {
    out.set(
      inside.data.subarray(y * inside.width * 3, (y + 1) * inside.width * 3),
      ((y + y0 - top) * crop + (x0 - left)) * 3,
    );
  }
  return { data: out, width: crop, height: crop };
}

/**
 * Rescale and normalise 8-bit (or float 0..255) RGB into `out` at `offset`
 * (NHWC, float32). Math.fround reproduces numpy's float32 steps.
 */
export function normaliseInto(
  rgb: Uint8Array | Float32Array,
  p: Pick<ImageProcessing, 'mean' | 'std' | 'rescaleFactor'>,
  out: Float32Array,
  offset: number,
): void {
  const mean = p.mean.map(Math.fround);
  const std = p.std.map(Math.fround);
  const f = p.rescaleFactor;
  for (let i = 0; i < rgb.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const x = Math.fround(rgb[i + c]! * f);
      out[offset + i + c] = Math.fround(x - mean[c]!) / std[c]!;
    }
  }
}

/** Steps 1-4 for one image into `out` at `offset`. */
export function preprocessForEval(img: RgbImage, p: ImageProcessing, out: Float32Array, offset: number): void {
  normaliseInto(evalResizeCrop(img, p).data, p, out, offset);
}
