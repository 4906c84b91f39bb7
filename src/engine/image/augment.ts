/**
 * Training augmentation, each part switchable from the config:
 * - random resized crop: a crop of area share in [crop_scale_min, 1] and
 *   aspect ratio in [3/4, 4/3] (log-uniform), resized to the input size with
 *   the same Pillow bicubic as evaluation (torchvision's RandomResizedCrop
 *   recipe: 10 tries, then a center crop with the ratio clamped);
 *   when off, the evaluation resize + center crop is used;
 * - horizontal flip with probability 0.5;
 * - colour jitter: brightness, contrast and saturation factors each drawn in
 *   [1 - s, 1 + s], applied in a random order (as torchvision's ColorJitter).
 *
 * Everything random comes from an Rng seeded per image, so the same seed
 * gives the same pixels, on the main thread or in a worker, in any order.
 */
import type { TrainConfig } from '../../shared/config/schema';
import type { ImageProcessing } from '../model/types';
import { Rng } from '../util/rng';
import type { RgbImage } from './decode';
import { resizeBicubic } from './resample';
import { evalResizeCrop, normaliseInto } from './preprocess';

export interface AugmentationOptions {
  randomResizedCrop: boolean;
  /** Smallest share of the image area a crop keeps (0 < s <= 1). */
  cropScaleMin: number;
  horizontalFlip: boolean;
  /** Jitter strength s in [0, 1]; 0 turns it off. */
  colorJitter: number;
}

export function augmentationFromConfig(
  c: Pick<TrainConfig, 'random_resized_crop' | 'crop_scale_min' | 'horizontal_flip' | 'color_jitter'>,
): AugmentationOptions {
  return {
    randomResizedCrop: c.random_resized_crop,
    cropScaleMin: c.crop_scale_min,
    horizontalFlip: c.horizontal_flip,
    colorJitter: c.color_jitter,
  };
}

export const NO_AUGMENTATION: AugmentationOptions = {
  randomResizedCrop: false,
  cropScaleMin: 1,
  horizontalFlip: false,
  colorJitter: 0,
};

export interface CropRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

const RATIO_MIN = 3 / 4;
const RATIO_MAX = 4 / 3;

/** A random crop of a `width` x `height` image (integer pixels, inside the image). */
export function sampleResizedCrop(width: number, height: number, scaleMin: number, rng: Rng): CropRect {
  const area = width * height;
  const logLo = Math.log(RATIO_MIN);
  const logHi = Math.log(RATIO_MAX);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scaleMin, 1);
    const ratio = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(target * ratio));
    const h = Math.round(Math.sqrt(target / ratio));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { x: rng.int(width - w + 1), y: rng.int(height - h + 1), width: w, height: h };
    }
  }
  // Fallback: the largest center crop whose ratio is in range.
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < RATIO_MIN) h = Math.round(w / RATIO_MIN);
  else if (inRatio > RATIO_MAX) w = Math.round(h * RATIO_MAX);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

function flipHorizontally(img: RgbImage): void {
  const { data, width, height } = img;
  for (let y = 0; y < height; y++) {
    let a = y * width * 3;
    let b = a + (width - 1) * 3;
    for (; a < b; a += 3, b -= 3) {
      for (let c = 0; c < 3; c++) {
        const t = data[a + c]!;
        data[a + c] = data[b + c]!;
        data[b + c] = t;
      }
    }
  }
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** ITU-R 601 luma, the weights torchvision's grayscale uses. */
const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;

// Each operation blends with a reference: black (brightness), the image's mean
// grey (contrast), each pixel's own grey (saturation): v' = f v + (1 - f) ref.
function brightness(px: Float32Array, f: number): void {
  for (let i = 0; i < px.length; i++) px[i] = clamp255(px[i]! * f);
}

function contrast(px: Float32Array, f: number): void {
  let sum = 0;
  for (let i = 0; i < px.length; i += 3) sum += luma(px[i]!, px[i + 1]!, px[i + 2]!);
  const mean = sum / (px.length / 3);
  for (let i = 0; i < px.length; i++) px[i] = clamp255(f * px[i]! + (1 - f) * mean);
}

function saturation(px: Float32Array, f: number): void {
  for (let i = 0; i < px.length; i += 3) {
    const g = luma(px[i]!, px[i + 1]!, px[i + 2]!);
    for (let c = 0; c < 3; c++) px[i + c] = clamp255(f * px[i + c]! + (1 - f) * g);
  }
}

/** Brightness, contrast and saturation in an order and with factors drawn from `rng`. */
export function colorJitter(px: Float32Array, strength: number, rng: Rng): void {
  const ops = [brightness, contrast, saturation];
  const factors = ops.map(() => rng.uniform(1 - strength, 1 + strength));
  const order = rng.shuffle([0, 1, 2]);
  for (const i of order) ops[i]!(px, factors[i]!);
}

/**
 * One training image into `out` at `offset` (NHWC float32, normalised).
 * Draw order (crop, flip, jitter) is fixed so a seed means the same image.
 */
export function preprocessForTraining(
  img: RgbImage,
  p: ImageProcessing,
  aug: AugmentationOptions,
  seed: number,
  out: Float32Array,
  offset: number,
): void {
  const rng = new Rng(seed);
  const size = p.imageSize;
  let view: RgbImage;
  if (aug.randomResizedCrop) {
    const c = sampleResizedCrop(img.width, img.height, aug.cropScaleMin, rng);
    view = resizeBicubic(img, size, size, { x0: c.x, y0: c.y, x1: c.x + c.width, y1: c.y + c.height });
  } else {
    view = evalResizeCrop(img, p);
  }
  // Both paths above return freshly allocated pixels, so flipping in place is safe.
  if (aug.horizontalFlip && rng.next() < 0.5) flipHorizontally(view);
  if (aug.colorJitter > 0) {
    const px = Float32Array.from(view.data);
    colorJitter(px, aug.colorJitter, rng);
    normaliseInto(px, p, out, offset);
  } else {
    normaliseInto(view.data, p, out, offset);
  }
}
