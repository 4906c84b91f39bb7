// Evaluation preprocessing against an independent reference: Pillow's own
// bicubic resize plus HF's crop/rescale/normalise steps, computed in Python
// by fixtures/make_fixtures.py. Tolerance: exact. Our resampler implements
// Pillow's fixed-point algorithm (including the rounding to 8 bits between
// the horizontal and vertical passes), and rescale/normalise follow numpy's
// float32 steps, so every byte and every float must match. (A float
// implementation, e.g. torch's antialiased bicubic, differs from Pillow by up
// to ~2 levels; that would not be HF's pixels.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../../../src/engine/image/decode';
import { resizeBicubic } from '../../../src/engine/image/resample';
import {
  evalResizeCrop,
  normaliseInto,
  preprocessForEval,
  shortestEdgeSize,
} from '../../../src/engine/image/preprocess';

const FIX = path.join(__dirname, 'fixtures');

interface Case {
  name: string;
  input: string;
  op: 'eval' | 'box';
  expected: string;
  imageSize?: number;
  resizeShortestEdge?: number;
  size?: number;
  box?: [number, number, number, number];
}

const cases = JSON.parse(fs.readFileSync(path.join(FIX, 'cases.json'), 'utf8')) as Case[];

async function rawPng(file: string) {
  const { data, info } = await sharp(path.join(FIX, file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  let count = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    count++;
    if (first < 0) first = i;
  }
  return count === 0 ? 'identical' : `${count} bytes differ, first at ${first}: ${a[first]} vs ${b[first]}`;
}

for (const c of cases) {
  test(`Pillow/HF reference: ${c.name}`, async () => {
    const src = await rawPng(c.input);
    const want = await rawPng(c.expected);
    const got =
      c.op === 'eval'
        ? evalResizeCrop(src, { imageSize: c.imageSize!, resizeShortestEdge: c.resizeShortestEdge! })
        : resizeBicubic(src, c.size!, c.size!, { x0: c.box![0], y0: c.box![1], x1: c.box![2], y1: c.box![3] });
    assert.equal(got.width, want.width);
    assert.equal(got.height, want.height);
    assert.equal(firstDifference(got.data, want.data), 'identical');
  });
}

test('a full resize equals the region-only resize of the same pixels', async () => {
  const src = await rawPng('input-landscape.png');
  const full = resizeBicubic(src, 150, 100);
  const part = resizeBicubic(src, 150, 100, undefined, { x: 30, y: 20, width: 50, height: 40 });
  for (let y = 0; y < 40; y++) {
    const a = full.data.subarray(((y + 20) * 150 + 30) * 3, ((y + 20) * 150 + 80) * 3);
    const b = part.data.subarray(y * 50 * 3, (y + 1) * 50 * 3);
    assert.deepEqual(b, a);
  }
});

test('rescale + normalise equals numpy float32 for every byte value', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIX, 'normalise.json'), 'utf8')) as {
    mean: [number, number, number];
    std: [number, number, number];
    rescaleFactor: number;
    values: number[][];
  };
  const px = new Uint8Array(256 * 3);
  for (let v = 0; v < 256; v++) px[3 * v] = px[3 * v + 1] = px[3 * v + 2] = v;
  const out = new Float32Array(256 * 3 + 5);
  normaliseInto(px, ref, out, 5);
  for (let v = 0; v < 256; v++)
    for (let c = 0; c < 3; c++)
      assert.equal(out[5 + 3 * v + c], Math.fround(ref.values[v]![c]!), `value ${v} channel ${c}`);
});

test('preprocessForEval = reference crop, normalised (NHWC, at the offset)', async () => {
  const c = cases.find((x) => x.name === 'eval-portrait-224')!;
  const img = await decodeImage(path.join(FIX, c.input));
  const want = await rawPng(c.expected);
  const p = {
    imageSize: 224,
    resizeShortestEdge: 256,
    mean: [0.485, 0.456, 0.406] as [number, number, number],
    std: [0.229, 0.224, 0.225] as [number, number, number],
    rescaleFactor: 1 / 255,
  };
  const n = 224 * 224 * 3;
  const out = new Float32Array(2 * n);
  preprocessForEval(img, p, out, n);
  const expected = new Float32Array(n);
  normaliseInto(want.data, p, expected, 0);
  assert.deepEqual(out.subarray(n), expected);
  assert.ok(
    out.subarray(0, n).every((v) => v === 0),
    'nothing written before the offset',
  );
});

test('shortest-edge size truncates the long edge like HF', () => {
  assert.deepEqual(shortestEdgeSize(300, 200, 256), { width: 384, height: 256 });
  assert.deepEqual(shortestEdgeSize(150, 221, 256), { width: 256, height: 377 }); // 377.17 -> 377
  assert.deepEqual(shortestEdgeSize(100, 100, 256), { width: 256, height: 256 });
  assert.deepEqual(shortestEdgeSize(3, 1000, 256), { width: 256, height: 85333 });
});
