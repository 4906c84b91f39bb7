// The embeddings map's geometry without a browser: colour groups, the fit onto the canvas, the point under the
// pointer (bucket grid vs. a brute-force search) and box selection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colourGroups, fitTransform, PointGrid, pointsInBox, toScreen } from '../../webview-ui/src/mapModel';
import { Rng } from '../../src/engine/util/rng';

test('colours: by product when there are 12 or fewer, else by super class, else one colour', () => {
  const few = colourGroups([
    { path: 'a', label: 2, superClass: 'mug' },
    { path: 'b', label: 10, superClass: 'mug' },
    { path: 'c', label: 2, superClass: 'lamp' },
  ]);
  assert.equal(few.by, 'product');
  assert.deepEqual(few.names, ['2', '10'], 'numeric order');
  assert.deepEqual([...few.group], [0, 1, 0]);
  const many = Array.from({ length: 40 }, (_, i) => ({
    path: `p${i}`,
    label: i,
    superClass: i % 2 ? 'sofa' : 'chair',
  }));
  const bySuper = colourGroups(many);
  assert.equal(bySuper.by, 'super class');
  assert.deepEqual(bySuper.names, ['chair', 'sofa']);
  assert.equal(bySuper.group[3], 1);
  assert.equal(colourGroups(many.map(({ path, label }) => ({ path, label }))).by, 'none');
});

test('the fit keeps both axes at one scale and every point inside the padded area', () => {
  const x = [-2, 0, 4];
  const y = [1, 3, -1];
  const t = fitTransform(x, y, 300, 200, 10);
  assert.equal(t.sx, t.sy);
  const { px, py } = toScreen(x, y, t);
  for (let i = 0; i < 3; i++) {
    assert.ok(px[i]! >= 10 - 1e-9 && px[i]! <= 290 + 1e-9);
    assert.ok(py[i]! >= 10 - 1e-9 && py[i]! <= 190 + 1e-9);
  }
  assert.ok(py[1]! < py[0]!, 'larger y is higher on screen');
});

test('the point under the pointer equals a brute-force search; boxes select exactly the points inside', () => {
  const rng = new Rng(4);
  const n = 5000;
  const px = Float32Array.from({ length: n }, () => rng.next() * 400);
  const py = Float32Array.from({ length: n }, () => rng.next() * 300);
  const grid = new PointGrid(px, py, 400, 300);
  for (let k = 0; k < 300; k++) {
    const x = rng.next() * 420 - 10;
    const y = rng.next() * 320 - 10;
    let best = -1;
    let bestD = 36;
    for (let i = 0; i < n; i++) {
      const d = (px[i]! - x) ** 2 + (py[i]! - y) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    assert.equal(grid.nearest(x, y, 6), best, `at (${x}, ${y})`);
  }
  const box = { x0: 250, y0: 40, x1: 100, y1: 120 };
  const inside = pointsInBox(px, py, box);
  const brute = [...px.keys()].filter((i) => px[i]! >= 100 && px[i]! <= 250 && py[i]! >= 40 && py[i]! <= 120);
  assert.deepEqual(inside, brute);
});
