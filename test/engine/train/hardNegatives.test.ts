// Hard-negative mining's product neighbours: nearest by the mean embedding, saved for resume.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  loadProductNeighbours,
  productNeighbours,
  saveProductNeighbours,
} from '../../../src/engine/train/hardNegatives';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-hardneg-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('each product gets the other products nearest to its mean direction, nearest first', () => {
  // Four products of two images each in 2-D: angles 0 and 10 deg (A), 20 and 30 (B), 90 and 100 (C), 180 (D x2).
  const deg = [0, 10, 20, 30, 90, 100, 180, 180];
  const scale = [1, 3, 0.5, 2, 1, 1, 4, 1]; // lengths must not matter: images are normalised first
  const data = new Float32Array(
    deg.flatMap((a, i) => [scale[i]! * Math.cos((a * Math.PI) / 180), scale[i]! * Math.sin((a * Math.PI) / 180)]),
  );
  const nb = productNeighbours({ data, n: 8, d: 2 }, [0, 0, 1, 1, 2, 2, 3, 3], 4, 2);
  assert.deepEqual(nb.get(0), [1, 2]);
  assert.deepEqual(nb.get(1), [0, 2]);
  assert.deepEqual(nb.get(2), [1, 3], 'C (95 deg): B at 70 deg, then D at 85, not A at 90');
  assert.deepEqual(nb.get(3), [2, 1]);
});

test('saved neighbours load back only for the same products', () => {
  const file = path.join(tmp, 'hard-negatives.json');
  const nb = new Map([
    [0, [1]],
    [1, [0]],
  ]);
  saveProductNeighbours(file, ['number:1', 'number:2'], nb);
  assert.deepEqual(loadProductNeighbours(file, ['number:1', 'number:2']), nb);
  assert.equal(loadProductNeighbours(file, ['number:1', 'number:3']), undefined, 'other products');
  assert.equal(loadProductNeighbours(file, ['number:1']), undefined, 'fewer products');
  assert.equal(loadProductNeighbours(path.join(tmp, 'none.json'), ['number:1']), undefined, 'no file');
});
