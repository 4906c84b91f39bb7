// Decoding: EXIF orientation, colour models, transparency, broken files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  ALPHA_BACKGROUND,
  decodeImage,
  ImageReadError,
  probeImage,
  type RgbImage,
} from '../../../src/engine/image/decode';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-decode-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const WHITE = [255, 255, 255];

/** 40x20 with four coloured quadrants: TL red, TR green, BL blue, BR white. */
function quadrants(): Buffer {
  const w = 40;
  const h = 20;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = y < h / 2 ? (x < w / 2 ? RED : GREEN) : x < w / 2 ? BLUE : WHITE;
      px.set(c, (y * w + x) * 3);
    }
  }
  return px;
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
}

function near(actual: number[], expected: number[], tol: number, what: string) {
  assert.ok(
    actual.every((v, i) => Math.abs(v - expected[i]!) <= tol),
    `${what}: got ${actual}, expected ${expected} ± ${tol}`,
  );
}

/** The colours at the centres of the TL, TR, BL, BR quadrants. */
function quadrantColours(img: RgbImage): number[][] {
  const xs = [img.width / 4, (3 * img.width) / 4].map(Math.floor);
  const ys = [img.height / 4, (3 * img.height) / 4].map(Math.floor);
  return [
    pixel(img, xs[0]!, ys[0]!),
    pixel(img, xs[1]!, ys[0]!),
    pixel(img, xs[0]!, ys[1]!),
    pixel(img, xs[1]!, ys[1]!),
  ];
}

// Expected display layouts follow the EXIF specification of each orientation value.
const ORIENTATIONS: Array<[number, string, number[][], [number, number]]> = [
  [1, 'as stored', [RED, GREEN, BLUE, WHITE], [40, 20]],
  [2, 'mirrored left-right', [GREEN, RED, WHITE, BLUE], [40, 20]],
  [3, 'rotated 180°', [WHITE, BLUE, GREEN, RED], [40, 20]],
  [6, 'rotated 90° clockwise', [BLUE, RED, WHITE, GREEN], [20, 40]],
  [8, 'rotated 90° counter-clockwise', [GREEN, WHITE, RED, BLUE], [20, 40]],
];

for (const [orientation, what, colours, [w, h]] of ORIENTATIONS) {
  test(`EXIF orientation ${orientation} (${what}) is applied`, async () => {
    const file = path.join(dir, `o${orientation}.jpg`);
    await sharp(quadrants(), { raw: { width: 40, height: 20, channels: 3 } })
      .withMetadata({ orientation })
      .jpeg({ quality: 100 })
      .toFile(file);
    assert.equal((await sharp(file).metadata()).orientation, orientation, 'the file carries the tag');
    const img = await decodeImage(file);
    assert.deepEqual([img.width, img.height], [w, h]);
    quadrantColours(img).forEach((c, i) => near(c, colours[i]!, 40, `quadrant ${['TL', 'TR', 'BL', 'BR'][i]}`));
  });
}

test('greyscale PNG becomes RGB with R = G = B', async () => {
  const file = path.join(dir, 'grey.png');
  await sharp(Buffer.from([0, 60, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(file);
  assert.equal((await sharp(file).metadata()).channels, 1);
  const img = await decodeImage(file);
  assert.deepEqual([...img.data], [0, 0, 0, 60, 60, 60, 200, 200, 200, 255, 255, 255]);
});

test('alpha is flattened on white', async () => {
  assert.deepEqual(ALPHA_BACKGROUND, { r: 255, g: 255, b: 255 });
  const file = path.join(dir, 'rgba.png');
  // opaque red, transparent black, half-transparent blue (alpha 128), opaque green
  await sharp(Buffer.from([255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 128, 0, 255, 0, 255]), {
    raw: { width: 2, height: 2, channels: 4 },
  })
    .png()
    .toFile(file);
  const img = await decodeImage(file);
  assert.deepEqual(pixel(img, 0, 0), RED);
  assert.deepEqual(pixel(img, 1, 0), WHITE);
  // 128/255 of blue over white: R = G = 255 * 127/255 = 127, B = 255.
  near(pixel(img, 0, 1), [127, 127, 255], 1, 'half-transparent blue over white');
  assert.deepEqual(pixel(img, 1, 1), GREEN);
});

test('greyscale with alpha is flattened and spread to RGB', async () => {
  const file = path.join(dir, 'grey-alpha.png');
  await sharp(Buffer.from([10, 255, 200, 0, 30, 255, 40, 255]), { raw: { width: 2, height: 2, channels: 2 } })
    .toColourspace('b-w')
    .png()
    .toFile(file);
  const img = await decodeImage(file);
  assert.deepEqual([...img.data], [10, 10, 10, 255, 255, 255, 30, 30, 30, 40, 40, 40]);
});

test('CMYK JPEG is converted to RGB', async () => {
  const file = path.join(dir, 'cmyk.jpg');
  const px = Buffer.alloc(16 * 16 * 3);
  for (let i = 0; i < 16 * 16; i++) px.set(i < 128 ? RED : BLUE, 3 * i);
  await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
    .toColourspace('cmyk')
    .jpeg({ quality: 100 })
    .toFile(file);
  const meta = await sharp(file).metadata();
  assert.equal(meta.space, 'cmyk');
  assert.equal(meta.channels, 4);
  const img = await decodeImage(file);
  assert.equal(img.data.length, 16 * 16 * 3);
  const top = pixel(img, 8, 2);
  const bottom = pixel(img, 8, 13);
  assert.ok(top[0]! > 180 && top[1]! < 80 && top[2]! < 80, `top should be red, got ${top}`);
  // Through the CMYK profile and back, pure blue comes out a darker blue.
  assert.ok(bottom[2]! > bottom[0]! + 60 && bottom[2]! > bottom[1]! + 60, `bottom should be blue, got ${bottom}`);
});

test('16-bit PNG is reduced to 8 bits', async () => {
  const file = path.join(dir, 'deep.png');
  // 8-bit values widened to 16 bits (v * 257) by the rgb16 colourspace.
  await sharp(Buffer.from([0, 255, 100, 7, 8, 9]), { raw: { width: 2, height: 1, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toFile(file);
  assert.equal((await sharp(file).metadata()).depth, 'ushort');
  const img = await decodeImage(file);
  assert.deepEqual([...img.data], [0, 255, 100, 7, 8, 9]);
});

test('a corrupt file is reported by path', async () => {
  const file = path.join(dir, 'corrupt.jpg');
  fs.writeFileSync(file, 'this is not an image at all');
  await assert.rejects(decodeImage(file), (e: unknown) => {
    assert.ok(e instanceof ImageReadError);
    assert.equal(e.path, file);
    assert.match(
      e.message,
      new RegExp(`cannot read image ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*unsupported image format`),
    );
    return true;
  });
  await assert.rejects(probeImage(file), ImageReadError);
});

test('a truncated JPEG is reported by path', async () => {
  const file = path.join(dir, 'truncated.jpg');
  const whole = await sharp(quadrants(), { raw: { width: 40, height: 20, channels: 3 } })
    .jpeg()
    .toBuffer();
  fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 3)));
  await assert.rejects(
    decodeImage(file),
    (e: unknown) => e instanceof ImageReadError && e.path === file && /premature end|corrupt/i.test(e.reason),
  );
});

test('a missing file says "file not found"', async () => {
  const file = path.join(dir, 'nope.png');
  await assert.rejects(
    decodeImage(file),
    (e: unknown) => e instanceof ImageReadError && e.reason === 'file not found' && e.message.includes(file),
  );
  await assert.rejects(probeImage(file), (e: unknown) => e instanceof ImageReadError && e.reason === 'file not found');
});

test('probeImage reads format and size from the header', async () => {
  const file = path.join(dir, 'probe.png');
  await sharp(quadrants(), { raw: { width: 40, height: 20, channels: 3 } })
    .png()
    .toFile(file);
  assert.deepEqual(await probeImage(file), { format: 'png', width: 40, height: 20 });
});
