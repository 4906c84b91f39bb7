// Clipping by global norm against torch.nn.utils.clip_grad_norm_ (test/fixtures/train/clip.json): the norm, and
// the factor that AdamW applies to the gradients as it reads them (g * scale rounded to float32 must be torch's
// clipped gradient).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor } from '../../../src/engine/backend/tf';
import { gradClipping } from '../../../src/engine/train/optim/clip';
import { assertAllClose, loadFixture } from './helpers/numeric';

interface ClipFixture {
  shapes: Record<string, number[]>;
  grads: Record<string, number[]>;
  cases: Array<{ max_norm: number; total_norm: number; clipped: Record<string, number[]> }>;
}
const fx = loadFixture<ClipFixture>('clip.json');
// float32 on both sides.
const TOL = { rtol: 1e-6, atol: 1e-7 };

type Form = 'tensors' | 'host values';

function grads(form: Form): Map<string, Tensor | Float32Array> {
  return new Map(
    Object.entries(fx.grads).map(([k, v]) => [
      k,
      form === 'tensors' ? tf.tensor(v, fx.shapes[k]) : Float32Array.from(v),
    ]),
  );
}

function values(g: Tensor | Float32Array): Float32Array {
  return g instanceof Float32Array ? g : (g.dataSync() as Float32Array);
}

function dispose(m: Map<string, Tensor | Float32Array>): void {
  for (const g of m.values()) if (!(g instanceof Float32Array)) g.dispose();
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gradClipping on ${backend}`, () => {
    before(async () => {
      await activateBackend(backend);
    });

    for (const form of ['tensors', 'host values'] as const)
      for (const c of fx.cases) {
        test(`max_norm ${c.max_norm}, ${form}: torch's norm, and g * scale is torch's clipped gradient (rtol ${TOL.rtol})`, () => {
          const g = grads(form);
          const before = new Map([...g].map(([k, t]) => [k, Float32Array.from(values(t))]));
          const r = gradClipping(g, c.max_norm);
          assertAllClose([r.totalNorm], [c.total_norm], TOL, 'total norm');
          assert.equal(r.clipped, c.total_norm > c.max_norm);
          assert.equal(r.scale === 1, !r.clipped, 'scale 1 exactly when not clipped');
          assert.equal(r.scale, Math.fround(r.scale), 'the scale is a float32, as torch multiplies by');
          for (const [name, t] of g) {
            // The gradients themselves are left as they were.
            assert.deepEqual(values(t), before.get(name), `${name} untouched`);
            const scaled = values(t).map((x) => Math.fround(x * r.scale));
            assertAllClose(scaled, c.clipped[name]!, TOL, `clipped ${name}`);
          }
          dispose(g);
        });
      }

    test('host and tensor gradients mixed in one map: one norm over both', () => {
      const mixed = grads('host values');
      const [first] = mixed.keys();
      mixed.set(first!, tf.tensor(fx.grads[first!]!, fx.shapes[first!]));
      const c = fx.cases[0]!;
      assertAllClose([gradClipping(mixed, c.max_norm).totalNorm], [c.total_norm], TOL, 'total norm');
      dispose(mixed);
    });

    test('max_grad_norm 0 measures but never clips; a NaN gradient gives a NaN norm and no scaling', () => {
      const g = grads('tensors');
      const r = gradClipping(g, 0);
      assert.equal(r.clipped, false);
      assert.equal(r.scale, 1);
      assertAllClose([r.totalNorm], [fx.cases[0]!.total_norm], TOL, 'norm with clipping off');
      g.set('nan', tf.tensor1d([NaN]));
      const bad = gradClipping(g, 1);
      assert.ok(Number.isNaN(bad.totalNorm));
      assert.equal(bad.clipped, false);
      dispose(g);
      assert.throws(() => gradClipping(new Map(), -1), /max_grad_norm must be >= 0/);
    });
  });
}
