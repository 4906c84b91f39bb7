// Clipping by global norm against torch.nn.utils.clip_grad_norm_ (test/fixtures/train/clip.json).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor } from '../../../src/engine/backend/tf';
import { clipGradNorm } from '../../../src/engine/train/optim/clip';
import { assertAllClose, loadFixture } from './helpers/numeric';

interface ClipFixture {
  shapes: Record<string, number[]>;
  grads: Record<string, number[]>;
  cases: Array<{ max_norm: number; total_norm: number; clipped: Record<string, number[]> }>;
}
const fx = loadFixture<ClipFixture>('clip.json');
// float32 on both sides.
const TOL = { rtol: 1e-6, atol: 1e-7 };

function grads(): Map<string, Tensor> {
  return new Map(Object.entries(fx.grads).map(([k, v]) => [k, tf.tensor(v, fx.shapes[k])]));
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`clipGradNorm on ${backend}`, () => {
    before(async () => {
      await activateBackend(backend);
    });

    for (const c of fx.cases) {
      test(`max_norm ${c.max_norm}: same norm and gradients as torch (rtol ${TOL.rtol})`, () => {
        const before = tf.memory().numTensors;
        const g = grads();
        const r = clipGradNorm(g, c.max_norm);
        assertAllClose([r.totalNorm], [c.total_norm], TOL, 'total norm');
        assert.equal(r.clipped, c.total_norm > c.max_norm);
        for (const [name, t] of g) assertAllClose(t.dataSync(), c.clipped[name]!, TOL, `clipped ${name}`);
        tf.dispose([...g.values()]);
        assert.equal(tf.memory().numTensors, before, 'replaced gradients are disposed');
      });
    }

    test('max_grad_norm 0 measures but never clips; a NaN gradient gives a NaN norm and no scaling', () => {
      const g = grads();
      const r = clipGradNorm(g, 0);
      assert.equal(r.clipped, false);
      assertAllClose([r.totalNorm], [fx.cases[0]!.total_norm], TOL, 'norm with clipping off');
      assertAllClose(g.get('a.bias')!.dataSync(), fx.grads['a.bias']!, { rtol: 0, atol: 0 }, 'untouched');
      g.set('nan', tf.tensor1d([NaN]));
      const bad = clipGradNorm(g, 1);
      assert.ok(Number.isNaN(bad.totalNorm));
      assert.equal(bad.clipped, false);
      tf.dispose([...g.values()]);
      assert.throws(() => clipGradNorm(new Map(), -1), /max_grad_norm must be >= 0/);
    });
  });
}
