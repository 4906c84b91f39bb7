/**
 * The hand-written gradients (plain matMuls only) against tfjs' automatic
 * differentiation of the textbook formulas (the paper version's functions,
 * dinov2Paper.ts, where it has the piece on its own). Loss = sum(op(...) * R) for a
 * fixed random R, so the upstream gradient is R. Tolerance 1e-4 absolute on
 * values of order 1 (measured: below 5e-7 on wasm).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor2D, type Tensor3D, type Variable } from '../../../src/engine/backend/tf';
import {
  attentionCore,
  dropout,
  gelu,
  layerNorm,
  linear,
  matMul,
  scaleChannels,
  swiglu,
} from '../../../src/engine/model/ops';
import * as paper from '../../../src/engine/model/dinov2Paper';
import { dropoutMaskValues } from '../../../src/engine/model/steps/linear';
import { Rng } from '../../../src/engine/util/rng';
import { maxAbsDiff, take, useWasm } from './helpers';

const TOLERANCE = 1e-4;
let seed = 1;
const rand = (shape: number[], scale = 1): Tensor => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed++), scale);

before(useWasm);

/** Gradients of sum(f() * r) with respect to `vars`, in order, plus the value of f. */
function gradsOf(f: () => Tensor, vars: Variable[], r: Tensor): { value: Float32Array; grads: Float32Array[] } {
  let value: Float32Array = new Float32Array();
  const { value: loss, grads } = tf.variableGrads(() => {
    const y = f();
    value = y.dataSync() as Float32Array;
    return tf.sum(tf.mul(y, r)) as never;
  }, vars);
  loss.dispose();
  const out = vars.map((v) => take(grads[v.name]!));
  return { value, grads: out };
}

function assertClose(label: string, a: Float32Array, b: Float32Array): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d < TOLERANCE, `${label}: differs by ${d}`);
}

describe('custom-gradient ops', () => {
  test('linear (x W + b) with trainable W: value and gradients for x, W, b equal tf.grad of the plain formula', () => {
    const x = tf.variable(rand([7, 5]), true);
    const w = tf.variable(rand([5, 3]), true);
    const b = tf.variable(rand([3]), true);
    const r = rand([7, 3]);
    const mine = gradsOf(() => linear(x as unknown as Tensor2D, w, b), [x, w, b], r);
    const plain = gradsOf(() => tf.add(tf.matMul(x, w), b), [x, w, b], r);
    assertClose('value', mine.value, plain.value);
    ['x', 'W', 'b'].forEach((n, i) => assertClose(`d${n}`, mine.grads[i]!, plain.grads[i]!));
    tf.dispose([x, w, b, r]);
  });

  test('linear with a frozen W: only x gets a gradient, and it matches', () => {
    const x = tf.variable(rand([4, 6]), true);
    const w = tf.variable(rand([6, 2]), false);
    const b = tf.variable(rand([2]), false);
    const r = rand([4, 2]);
    const { value: loss, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(linear(x as unknown as Tensor2D, w, b), r)) as never,
      [x],
    );
    const plain = gradsOf(() => tf.add(tf.matMul(x, w), b), [x], r);
    assertClose('dx', take(grads[x.name]!), plain.grads[0]!);
    tf.dispose([loss, x, w, b, r]);
  });

  test('matMul, rank 2 and batched rank 3', () => {
    for (const [sa, sb] of [
      [
        [4, 6],
        [6, 3],
      ],
      [
        [2, 4, 6],
        [2, 6, 3],
      ],
    ] as const) {
      const a = tf.variable(rand([...sa]), true);
      const b = tf.variable(rand([...sb]), true);
      const r = rand([...sa.slice(0, -1), sb[sb.length - 1]!]);
      const mine = gradsOf(() => matMul(a, b), [a, b], r);
      const plain = gradsOf(() => tf.matMul(a as Tensor3D, b as Tensor3D), [a, b], r);
      assertClose(`value ${sa}`, mine.value, plain.value);
      assertClose(`da ${sa}`, mine.grads[0]!, plain.grads[0]!);
      assertClose(`db ${sa}`, mine.grads[1]!, plain.grads[1]!);
      tf.dispose([a, b, r]);
    }
  });

  test('layerNorm (biased variance, eps inside the root), trainable and frozen affine', () => {
    for (const trainable of [true, false]) {
      const x = tf.variable(tf.add(rand([5, 8], 2), 3), true);
      const g = tf.variable(tf.add(rand([8], 0.2), 1), trainable);
      const b = tf.variable(rand([8], 0.2), trainable);
      const r = rand([5, 8]);
      const vars = trainable ? [x, g, b] : [x];
      const eps = 1e-6;
      const mine = gradsOf(() => layerNorm(x as unknown as Tensor2D, g, b, eps), vars, r);
      const plain = gradsOf(() => paper.layerNorm(x, { weight: g, bias: b }, eps), vars, r);
      assertClose('value', mine.value, plain.value);
      vars.forEach((_, i) => assertClose(`grad ${i} (trainable ${trainable})`, mine.grads[i]!, plain.grads[i]!));
      tf.dispose([x, g, b, r]);
    }
  });

  test('exact GELU: x * (1 + erf(x / sqrt 2)) / 2 and its derivative', () => {
    const x = tf.variable(rand([6, 7], 2), true);
    const r = rand([6, 7]);
    const mine = gradsOf(() => gelu(x), [x], r);
    const plain = gradsOf(() => paper.gelu(x), [x], r);
    assertClose('value', mine.value, plain.value);
    assertClose('dx', mine.grads[0]!, plain.grads[0]!);
    // GELU(1) = 0.8413447...
    assert.ok(Math.abs(take(gelu(tf.scalar(1)))[0]! - 0.8413447460685429) < 1e-6);
    tf.dispose([x, r]);
  });

  test('scaleChannels (LayerScale, trainable and frozen) equals tf.mul; SwiGLU gate equals SiLU(x1) * x2', () => {
    const a = tf.variable(rand([4, 6]), true);
    const r = rand([4, 6]);
    for (const trainable of [true, false]) {
      const lambda = tf.variable(rand([6]), trainable);
      const vars = trainable ? [a, lambda] : [a];
      const mine = gradsOf(() => scaleChannels(a as unknown as Tensor2D, lambda), vars, r);
      const plain = gradsOf(() => tf.mul(a, lambda), vars, r);
      assertClose('scale value', mine.value, plain.value);
      vars.forEach((_, i) => assertClose(`scale grad ${i} (trainable ${trainable})`, mine.grads[i]!, plain.grads[i]!));
      lambda.dispose();
    }
    const r3 = rand([4, 3]);
    const mine = gradsOf(() => swiglu(a as unknown as Tensor2D), [a], r3);
    const plain = gradsOf(() => paper.swiglu(a), [a], r3);
    assertClose('swiglu value', mine.value, plain.value);
    assertClose('swiglu grad', mine.grads[0]!, plain.grads[0]!);
    tf.dispose([a, r, r3]);
  });

  test('linear with LoRA and dropout: gradients for x, A, B (W frozen) equal autodiff of x W + b + s (drop(x) A) B', () => {
    const x = tf.variable(rand([6, 5]), true);
    const w = tf.variable(rand([5, 4]), false);
    const b = tf.variable(rand([4]), false);
    const a = tf.variable(rand([5, 2]), true);
    const bl = tf.variable(rand([2, 4]), true);
    const r = rand([6, 4]);
    const lora = { a, b: bl, scale: 1.5, dropout: 0.3, index: 2 };
    const ctx = { training: true, dropoutSeed: (i: number) => 100 + i };
    const mine = gradsOf(() => linear(x as unknown as Tensor2D, w, b, ctx, lora), [x, a, bl], r);
    const plain = gradsOf(
      () => {
        const dropped = dropout(x, 0.3, 102);
        return tf.add(tf.add(tf.matMul(x, w), b), tf.mul(tf.matMul(tf.matMul(dropped, a), bl), 1.5));
      },
      [x, a, bl],
      r,
    );
    assertClose('value', mine.value, plain.value);
    ['x', 'A', 'B'].forEach((n, i) => assertClose(`d${n}`, mine.grads[i]!, plain.grads[i]!));
    tf.dispose([x, w, b, a, bl, r]);
  });

  test('dropout: seeded mask, kept values scaled by 1/(1-p), gradient through the same mask', () => {
    const x = tf.variable(tf.add(tf.abs(rand([50, 40])), 0.1), true);
    const r = rand([50, 40]);
    const { value, grads } = gradsOf(() => dropout(x, 0.25, 7), [x], r);
    const xs = x.dataSync();
    const rs = r.dataSync();
    let dropped = 0;
    for (let i = 0; i < value.length; i++) {
      const m = value[i]! / xs[i]!;
      if (value[i] === 0) dropped++;
      else assert.ok(Math.abs(m - 1 / 0.75) < 1e-5);
      assert.ok(Math.abs(grads[0]![i]! - m * rs[i]!) < 1e-5);
    }
    assert.ok(dropped > 400 && dropped < 600, `${dropped} of 2000 dropped at p = 0.25`);
    assert.deepEqual(take(dropout(x, 0.25, 7)), value);
    assert.notDeepEqual(take(dropout(x, 0.25, 8)), value);
    tf.dispose([x, r]);
  });

  test('dropout mask values: the rate of entries dropped (both halves of each draw, odd lengths), the rest 1/(1-p)', () => {
    for (const [length, rate] of [
      [200_001, 0.05],
      [100_000, 0.5],
      [7, 0],
    ] as const) {
      const m = dropoutMaskValues(length, rate, 3);
      assert.equal(m.length, length);
      let dropped = 0;
      const droppedAt = [0, 0]; // entries decided by the low and by the high half of a draw
      for (let i = 0; i < m.length; i++) {
        if (m[i] === 0) {
          dropped++;
          droppedAt[i % 2]!++;
        } else assert.equal(m[i], Math.fround(1 / (1 - rate)));
      }
      // Binomial: 5 standard deviations of the dropped count.
      const sd = Math.sqrt(length * rate * (1 - rate));
      assert.ok(Math.abs(dropped - length * rate) <= 5 * sd + 1e-9, `${dropped} of ${length} dropped at p = ${rate}`);
      for (const d of droppedAt) assert.ok(Math.abs(d - (length / 2) * rate) <= 5 * sd + 1e-9, `halves: ${droppedAt}`);
    }
    assert.notDeepEqual(dropoutMaskValues(64, 0.5, 1), dropoutMaskValues(64, 0.5, 2));
  });

  test("dropout mask values are Rng(seed)'s draws, low 16 bits then high 16 bits of each", () => {
    for (const seed of [0, 77, 0x80000000, 0xffffffff]) {
      const rng = new Rng(seed);
      const expected = new Float32Array(1001);
      for (let i = 0; i < expected.length; i += 2) {
        const u = rng.nextUint32();
        expected[i] = u % 65536 >= 0.3 * 65536 ? 1 / 0.7 : 0;
        if (i + 1 < expected.length) expected[i + 1] = Math.floor(u / 65536) >= 0.3 * 65536 ? 1 / 0.7 : 0;
      }
      assert.deepEqual(dropoutMaskValues(1001, 0.3, seed), expected, `seed ${seed}`);
    }
  });

  for (const strategy of ['blocks', 'batched'] as const) {
    test(`attentionCore (${strategy}): softmax(q kᵀ / 2) v per image and head, gradients for q, k, v`, () => {
      const n = 2;
      const T = 5;
      const heads = 3;
      const dh = 4;
      const q = tf.variable(rand([n * T, heads * dh]), true);
      const k = tf.variable(rand([n * T, heads * dh]), true);
      const v = tf.variable(rand([n * T, heads * dh]), true);
      const r = rand([n * T, heads * dh]);
      const textbook = (): Tensor => {
        const split = (t: Tensor): Tensor3D =>
          tf.reshape(tf.transpose(tf.reshape(t, [n, T, heads, dh]), [0, 2, 1, 3]), [n * heads, T, dh]);
        const p = tf.softmax(tf.mul(tf.matMul(split(q), split(k), false, true), 0.5));
        return tf.reshape(tf.transpose(tf.reshape(tf.matMul(p, split(v)), [n, heads, T, dh]), [0, 2, 1, 3]), [
          n * T,
          heads * dh,
        ]);
      };
      const mine = gradsOf(
        () =>
          attentionCore(q as unknown as Tensor2D, k as unknown as Tensor2D, v as unknown as Tensor2D, {
            images: n,
            heads,
            scale: 0.5,
            strategy,
          }),
        [q, k, v],
        r,
      );
      const plain = gradsOf(textbook, [q, k, v], r);
      assertClose('value', mine.value, plain.value);
      ['q', 'k', 'v'].forEach((name, i) => assertClose(`d${name}`, mine.grads[i]!, plain.grads[i]!));
      tf.dispose([q, k, v, r]);
    });
  }
});
