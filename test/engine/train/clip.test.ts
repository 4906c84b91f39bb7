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

/** The same gradients as host values (what the ONNX Runtime trainer hands over). */
function hostGrads(): Map<string, Float32Array> {
  return new Map(Object.entries(fx.grads).map(([k, v]) => [k, Float32Array.from(v)]));
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

    for (const c of fx.cases) {
      test(`max_norm ${c.max_norm}, host gradients: scaled in place, the same numbers as torch`, () => {
        const g = hostGrads();
        const arrays = [...g.values()];
        const r = clipGradNorm(g, c.max_norm);
        assertAllClose([r.totalNorm], [c.total_norm], TOL, 'total norm');
        assert.equal(r.clipped, c.total_norm > c.max_norm);
        // In place: the map holds the very arrays it was given.
        assert.deepEqual([...g.values()], arrays);
        for (const [name, t] of g) assertAllClose(t, c.clipped[name]!, TOL, `clipped ${name}`);
      });
    }

    test('host and tensor gradients mixed in one map: one norm over both', () => {
      const host = hostGrads();
      const mixed = new Map<string, Tensor | Float32Array>(host);
      const [first] = host.keys();
      mixed.set(first!, tf.tensor(fx.grads[first!]!, fx.shapes[first!]));
      const c = fx.cases[0]!;
      const r = clipGradNorm(mixed, c.max_norm);
      assertAllClose([r.totalNorm], [c.total_norm], TOL, 'total norm');
      for (const [name, t] of mixed)
        assertAllClose(t instanceof Float32Array ? t : t.dataSync(), c.clipped[name]!, TOL, `clipped ${name}`);
      tf.dispose(mixed.get(first!) as Tensor);
    });
  });
}
