/**
 * What the image pipeline does to one image, shared by the main thread and
 * the worker threads so both produce the same pixels.
 */
import type { ImageProcessing } from '../model/types';
import { decodeImage, type RgbImage } from './decode';
import { preprocessForEval } from './preprocess';
import { preprocessForTraining, type AugmentationOptions } from './augment';

/** `eval`: deterministic resize + center crop. `train`: augmentation drawn from `seed`. */
export type ImageTransform = { kind: 'eval' } | { kind: 'train'; seed: number };

export interface ImageJob {
  path: string;
  transform: ImageTransform;
}

export interface PipelineSettings {
  processing: ImageProcessing;
  augmentation: AugmentationOptions;
}

export function pixelsPerImage(p: ImageProcessing): number {
  return p.imageSize * p.imageSize * 3;
}

export function applyTransform(
  img: RgbImage,
  transform: ImageTransform,
  s: PipelineSettings,
  out: Float32Array,
  offset: number,
): void {
  if (transform.kind === 'eval') preprocessForEval(img, s.processing, out, offset);
  else preprocessForTraining(img, s.processing, s.augmentation, transform.seed, out, offset);
}

/**
 * A seed for one image of one step, mixed from the run's seed, the epoch,
 * the record and its slot (0 = query, 1 = positive, 2+ = negatives), so that
 * every image of a run gets its own augmentation and a resumed run repeats it.
 */
export function augmentationSeed(runSeed: number, epoch: number, recordIndex: number, slot: number): number {
  let h = 0x811c9dc5 ^ (runSeed >>> 0);
  for (const v of [epoch, recordIndex, slot]) {
    h = Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h >>> 0;
}

/**
 * Decode (unless `decoded` is given, e.g. from the cache) and transform one
 * image. Returns the pixels and the decoded image, for the cache.
 */
export async function runImageJob(
  job: ImageJob,
  s: PipelineSettings,
  decoded?: RgbImage,
): Promise<{ pixels: Float32Array; decoded: RgbImage }> {
  const img = decoded ?? (await decodeImage(job.path));
  const pixels = new Float32Array(pixelsPerImage(s.processing));
  applyTransform(img, job.transform, s, pixels, 0);
  return { pixels, decoded: img };
}
