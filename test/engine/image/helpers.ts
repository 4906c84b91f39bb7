// Small generated images for the image tests.
import sharp from 'sharp';
import { Rng } from '../../../src/engine/util/rng';
import type { ImageProcessing } from '../../../src/engine/model/types';

export const DINO_PROCESSING: ImageProcessing = {
  imageSize: 56,
  resizeShortestEdge: 64,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  rescaleFactor: 1 / 255,
};

/** A width x height RGB image with gradients and seeded noise, as raw bytes. */
export function patternPixels(width: number, height: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      px[i] = (x * 255) / width;
      px[i + 1] = (y * 255) / height;
      px[i + 2] = rng.int(256);
    }
  }
  return px;
}

export async function writePattern(file: string, width: number, height: number, seed: number): Promise<void> {
  const img = sharp(patternPixels(width, height, seed), { raw: { width, height, channels: 3 } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 90 })).toFile(file);
}
