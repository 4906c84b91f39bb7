// Training augmentation: seeded, switchable, within its stated ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/engine/util/rng';
import {
  NO_AUGMENTATION,
  augmentationFromConfig,
  colorJitter,
  preprocessForTraining,
  sampleResizedCrop,
  type AugmentationOptions,
} from '../../../src/engine/image/augment';
import { preprocessForEval, normaliseInto } from '../../../src/engine/image/preprocess';
import { resizeBicubic } from '../../../src/engine/image/resample';
import { defaultConfig } from '../../../src/shared/config/schema';
import { DINO_PROCESSING, patternPixels } from './helpers';

const P = DINO_PROCESSING;
const N = P.imageSize * P.imageSize * 3;
const img = { data: new Uint8Array(patternPixels(90, 70, 5)), width: 90, height: 70 };
const ALL: AugmentationOptions = { randomResizedCrop: true, cropScaleMin: 0.3, horizontalFlip: true, colorJitter: 0.4 };

function train(aug: AugmentationOptions, seed: number): Float32Array {
  const out = new Float32Array(N);
  preprocessForTraining(img, P, aug, seed, out, 0);
  return out;
}

function evalPixels(): Float32Array {
  const out = new Float32Array(N);
  preprocessForEval(img, P, out, 0);
  return out;
}

function mirrored(x: Float32Array): Float32Array {
  const s = P.imageSize;
  const out = new Float32Array(x.length);
  for (let y = 0; y < s; y++)
    for (let c = 0; c < s; c++) out.set(x.subarray((y * s + c) * 3, (y * s + c) * 3 + 3), (y * s + (s - 1 - c)) * 3);
  return out;
}

test('the config keys map onto the options', () => {
  const c = {
    ...defaultConfig(),
    random_resized_crop: false,
    crop_scale_min: 0.25,
    horizontal_flip: true,
    color_jitter: 0.1,
  };
  assert.deepEqual(augmentationFromConfig(c), {
    randomResizedCrop: false,
    cropScaleMin: 0.25,
    horizontalFlip: true,
    colorJitter: 0.1,
  });
});

test('same seed, same pixels; another seed, other pixels', () => {
  assert.deepEqual(train(ALL, 1234), train(ALL, 1234));
  assert.notDeepEqual(train(ALL, 1234), train(ALL, 1235));
});

test('everything switched off is the evaluation transform', () => {
  assert.deepEqual(train(NO_AUGMENTATION, 7), evalPixels());
});

test('flip alone: the eval image or its mirror, about half each', () => {
  const plain = evalPixels();
  const mirror = mirrored(plain);
  let flips = 0;
  for (let seed = 0; seed < 200; seed++) {
    const out = train({ ...NO_AUGMENTATION, horizontalFlip: true }, seed);
    const isPlain = out.every((v, i) => v === plain[i]);
    const isMirror = out.every((v, i) => v === mirror[i]);
    assert.ok(isPlain !== isMirror, `seed ${seed}: neither the image nor its mirror`);
    if (isMirror) flips++;
  }
  // Binomial(200, 0.5): 100 ± 5 sd; 70..130 is a 6-sigma band.
  assert.ok(flips > 70 && flips < 130, `${flips} flips in 200`);
});

test('random resized crop alone = the sampled crop resized with the Pillow bicubic', () => {
  const seed = 99;
  const crop = sampleResizedCrop(img.width, img.height, 0.3, new Rng(seed));
  const expected = new Float32Array(N);
  normaliseInto(
    resizeBicubic(img, P.imageSize, P.imageSize, {
      x0: crop.x,
      y0: crop.y,
      x1: crop.x + crop.width,
      y1: crop.y + crop.height,
    }).data,
    P,
    expected,
    0,
  );
  assert.deepEqual(train({ ...NO_AUGMENTATION, randomResizedCrop: true, cropScaleMin: 0.3 }, seed), expected);
});

test('crops stay inside the image with area share in [scale_min, 1] and ratio in [3/4, 4/3]', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 2000; i++) {
    const c = sampleResizedCrop(400, 300, 0.5, rng);
    assert.ok(c.x >= 0 && c.y >= 0 && c.x + c.width <= 400 && c.y + c.height <= 300, JSON.stringify(c));
    // Rounding w and h to whole pixels moves area and ratio slightly: 2% slack.
    const share = (c.width * c.height) / (400 * 300);
    assert.ok(share >= 0.5 * 0.98 && share <= 1.0001, `share ${share}`);
    const ratio = c.width / c.height;
    assert.ok(ratio >= (3 / 4) * 0.98 && ratio <= (4 / 3) * 1.02, `ratio ${ratio}`);
  }
});

test('a very wide image falls back to a center crop with the ratio clamped', () => {
  const c = sampleResizedCrop(1000, 10, 0.9, new Rng(1));
  assert.deepEqual(c, { x: Math.floor((1000 - 13) / 2), y: 0, width: 13, height: 10 });
});

test('colour jitter: factors within [1-s, 1+s]; strength 0 changes nothing', () => {
  // A uniform grey image isolates brightness: contrast and saturation leave it unchanged.
  const grey = new Float32Array(30).fill(100);
  for (let seed = 0; seed < 200; seed++) {
    const px = grey.slice();
    colorJitter(px, 0.3, new Rng(seed));
    assert.ok(px.every((v) => v === px[0]));
    assert.ok(px[0]! >= 70 - 1e-3 && px[0]! <= 130 + 1e-3, `brightness ${px[0]}`);
  }
  const colourful = Float32Array.from(patternPixels(5, 2, 1));
  const same = colourful.slice();
  colorJitter(same, 0, new Rng(5));
  assert.deepEqual(same, colourful);
});

test('colour jitter keeps values in 0..255', () => {
  const px = Float32Array.from(patternPixels(20, 20, 2));
  colorJitter(px, 1, new Rng(11));
  assert.ok(px.every((v) => v >= 0 && v <= 255));
});
