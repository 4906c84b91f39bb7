/**
 * Shape inference over graphs under construction (src/engine/onnx/shapes.ts):
 * numbers, the symbolic batch, and null where a size does not follow.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FLOAT, GraphBuilder } from '../../../src/engine/onnx/graph';
import { broadcastShape, inferShapes } from '../../../src/engine/onnx/shapes';

describe('shape inference', () => {
  test('broadcasting: 1 spreads, numbers win over names and unknowns, two unknown names stay unknown', () => {
    assert.deepEqual(broadcastShape(['batch', 257, 384], [384]), ['batch', 257, 384]);
    assert.deepEqual(broadcastShape(['batch', 257, 1], ['batch', 257, 384]), ['batch', 257, 384]);
    assert.deepEqual(broadcastShape([null, 4], [3, 4]), [3, 4]);
    assert.deepEqual(broadcastShape(['a', 4], ['b', 4]), [null, 4]);
    assert.deepEqual(broadcastShape(['a', 4], [null, 4]), [null, 4]);
    assert.deepEqual(broadcastShape([1, 1], [1]), [1, 1]);
  });

  test('an attention block: reshape with 0 and -1, transpose, batched products, split, slice, gather, reduce', () => {
    const g = new GraphBuilder('shapes_test');
    const x = g.input('x', FLOAT, ['batch', 257, 384]);
    const heads = g.op('Reshape', [x, g.int64s('s', [0, 0, 6, -1])]);
    const q = g.op('Transpose', [heads], { perm: { ints: [0, 2, 1, 3] } });
    const k = g.op('Transpose', [heads], { perm: { ints: [0, 2, 3, 1] } });
    const scores = g.op('MatMul', [q, k]);
    const flat = g.op('Reshape', [x, g.int64s('s', [-1, 384])]);
    const rows = g.op('Reshape', [flat, g.int64s('s', [-1, 257, 384])]);
    const [a, b] = g.node('Split', [x, g.int64s('split', [128, 256])], { axis: { int: -1 } }, 2) as [string, string];
    const patches = g.op('Slice', [x, g.int64s('start', [1]), g.int64s('end', [1000]), g.int64s('axes', [1])]);
    const cls = g.op('Gather', [x, g.int64s('i', [0], [])], { axis: { int: 1 } });
    const mean = g.op('ReduceMean', [patches], { axes: { ints: [1] }, keepdims: { int: 0 } });
    const kept = g.op('ReduceSum', [x, g.int64s('axes', [-1])], { keepdims: { int: 1 } });
    const spread = g.op('Expand', [x, g.op('Shape', [x])]);
    const shapes = inferShapes(g);
    assert.deepEqual(shapes.get(heads), ['batch', 257, 6, 64]);
    assert.deepEqual(shapes.get(scores), ['batch', 6, 257, 257]);
    assert.deepEqual(shapes.get(flat), [null, 384], 'batch × 257 is no one size');
    assert.deepEqual(shapes.get(rows), [null, 257, 384]);
    assert.deepEqual(
      [shapes.get(a), shapes.get(b)],
      [
        ['batch', 257, 128],
        ['batch', 257, 256],
      ],
    );
    assert.deepEqual(shapes.get(patches), ['batch', 256, 384], 'the end clamped to the size');
    assert.deepEqual(shapes.get(cls), ['batch', 384]);
    assert.deepEqual(shapes.get(mean), ['batch', 384]);
    assert.deepEqual(shapes.get(kept), ['batch', 257, 1]);
    assert.deepEqual(shapes.get(spread), [null, null, null], 'Expand to a run-time shape: the rank only');
  });
});
