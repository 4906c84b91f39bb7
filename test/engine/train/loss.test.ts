// The embedding losses against PyTorch (test/fixtures/train/losses.json, made
// by scripts/reference/train_reference.py) and against hand-computed cases.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor, type Tensor2D } from '../../../src/engine/backend/tf';
import { embeddingLoss, infoNceLoss, tripletLoss, type LossConfig } from '../../../src/engine/train/loss';
import { assertAllClose, loadFixture, maxAbs } from './helpers/numeric';

interface LossCase {
  name: string;
  loss: number;
  grad_q: number[];
  grad_p: number[];
  labels?: number[] | null;
  temperature?: number;
  margin?: number;
}
const fixture = loadFixture<{ shape: [number, number]; q: number[]; p: number[]; cases: LossCase[] }>('losses.json');

function lossAndGrads(c: LossCase): { loss: number; dq: Float32Array; dp: Float32Array } {
  const q = tf.tensor2d(fixture.q, fixture.shape);
  const p = tf.tensor2d(fixture.p, fixture.shape);
  const labels = c.labels ?? undefined;
  const f = (a: Tensor, b: Tensor) =>
    c.name.startsWith('infonce')
      ? infoNceLoss(a as Tensor2D, b as Tensor2D, { temperature: c.temperature!, labels })
      : tripletLoss(a as Tensor2D, b as Tensor2D, { margin: c.margin!, labels });
  const { value, grads } = tf.valueAndGrads(f)([q, p]);
  const out = {
    loss: value.dataSync()[0]!,
    dq: grads[0]!.dataSync() as Float32Array,
    dp: grads[1]!.dataSync() as Float32Array,
  };
  tf.dispose([q, p, value, ...grads]);
  return out;
}

function lse(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

function scalar(f: () => Tensor): number {
  const t = f();
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`losses on ${backend}`, () => {
    before(async () => {
      await activateBackend(backend);
    });

    // float32 on our side against float64 torch on the same float32 inputs.
    // Loss: rtol 1e-5. Gradients: atol 1e-5 x the largest reference gradient
    // (the 1/temperature scale makes absolute errors grow with it), rtol 1e-4.
    for (const c of fixture.cases) {
      test(`${c.name}: loss and gradients match PyTorch`, () => {
        const before = tf.memory().numTensors;
        const got = lossAndGrads(c);
        assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
        assertAllClose([got.loss], [c.loss], { rtol: 1e-5, atol: 0 }, `${c.name} loss`);
        const scale = Math.max(maxAbs(c.grad_q), maxAbs(c.grad_p));
        assertAllClose(got.dq, c.grad_q, { rtol: 1e-4, atol: 1e-5 * scale }, `${c.name} dLoss/dq`);
        assertAllClose(got.dp, c.grad_p, { rtol: 1e-4, atol: 1e-5 * scale }, `${c.name} dLoss/dp`);
      });
    }

    test('InfoNCE by hand: a product twice in the batch, and the same batch without labels', () => {
      // Pairs 0 and 2 are the same product (label 7). temperature 0.5.
      const q = tf.tensor2d([
        [1, 0],
        [0, 1],
        [2, 0],
      ]); // row 2 is unnormalised on purpose
      const p = tf.tensor2d([
        [1, 0],
        [0, 1],
        [0.6, 0.8],
      ]);
      const t = 0.5;
      // cos(q_i, p_j) / t
      const row0 = [1 / t, 0, 0.6 / t];
      const row1 = [0, 1 / t, 0.8 / t];
      const withLabels = ((lse(row0) - (row0[0]! + row0[2]!) / 2) * 2 + (lse(row1) - row1[1]!)) / 3;
      const withoutLabels = (lse(row0) - row0[0]! + (lse(row1) - row1[1]!) + (lse(row0) - row0[2]!)) / 3;
      const a = scalar(() => infoNceLoss(q, p, { temperature: t, labels: [7, 3, 7] }));
      const b = scalar(() => infoNceLoss(q, p, { temperature: t }));
      const distinct = scalar(() => infoNceLoss(q, p, { temperature: t, labels: [1, 2, 3] }));
      assert.ok(Math.abs(a - withLabels) < 1e-6, `with labels ${a} vs ${withLabels}`);
      assert.ok(Math.abs(b - withoutLabels) < 1e-6, `without labels ${b} vs ${withoutLabels}`);
      assert.ok(Math.abs(distinct - withoutLabels) < 1e-6, 'all-distinct labels are the same as no labels');
      tf.dispose([q, p]);
    });

    test('triplet by hand: hinge active on one row, and no negatives at all', () => {
      const q = tf.tensor2d([
        [1, 0],
        [0, 1],
      ]);
      const p = tf.tensor2d([
        [1, 0],
        [0.8, 0.6],
      ]);
      // row 0: d_pos 0, hardest negative d(q0, p1) = 0.2 -> 0 - 0.2 + 0.5 = 0.3
      // row 1: d_pos 0.4, hardest negative d(q1, p0) = 1 -> max(0, -0.1) = 0
      assert.ok(Math.abs(scalar(() => tripletLoss(q, p, { margin: 0.5 })) - 0.15) < 1e-6);
      assert.equal(
        scalar(() => tripletLoss(q, p, { margin: 0.5, labels: [4, 4] })),
        0,
        'one label: no negatives, no loss',
      );
      tf.dispose([q, p]);
    });

    test('a tiny temperature stays finite; NaN embeddings give a NaN loss the caller can see', () => {
      const q = tf.tensor2d([
        [1, 0],
        [0, 1],
        [0.7, 0.7],
      ]);
      const p = tf.tensor2d([
        [0, 1],
        [1, 0],
        [0.7, 0.7],
      ]);
      const sharp = scalar(() => infoNceLoss(q, p, { temperature: 1e-4, labels: [1, 2, 3] }));
      assert.ok(Number.isFinite(sharp) && sharp > 1000, `expected a large finite loss, got ${sharp}`);
      const bad = tf.tensor2d([
        [NaN, 0],
        [0, 1],
        [1, 1],
      ]);
      assert.ok(Number.isNaN(scalar(() => infoNceLoss(bad, p, { temperature: 0.05 }))));
      assert.ok(Number.isNaN(scalar(() => tripletLoss(bad, p, { margin: 0.2 }))));
      tf.dispose([q, p, bad]);
    });

    test('bad input is named', () => {
      const q = tf.tensor2d([
        [1, 0],
        [0, 1],
      ]);
      const p = tf.tensor2d([[1, 0, 0]]);
      assert.throws(() => infoNceLoss(q, p, { temperature: 0.05 }), /queries are \[2,2\] but positives are \[1,3\]/);
      assert.throws(() => infoNceLoss(q, q, { temperature: 0.05, labels: [1] }), /1 labels for a batch of 2 pairs/);
      assert.throws(() => infoNceLoss(q, q, { temperature: 0 }), /temperature must be > 0/);
      const mrl = { loss_type: 'mrl', temperature: 0.05, triplet_margin: 0.2 } as unknown as LossConfig;
      assert.throws(() => embeddingLoss(mrl, q, q), /loss_type 'mrl' is not implemented/);
      tf.dispose([q, p]);
    });
  });
}
