/**
 * With CLS pooling the last block computes only the CLS rows (dinov2.ts,
 * clsBlockStep). Checked here against the full last layer (last_hidden_state's
 * CLS row) on every fixture variant, forward and backward. The forward pass is
 * also checked against PyTorch (reference.test.ts) and the backward pass
 * against autodiff of the paper version (gradients.test.ts); this test pins the
 * two paths to each other, with full fine-tuning and with LoRA on every linear.
 *
 * Tolerance: forward max |diff| <= 1e-5 (measured ~1e-7: the same sums in a
 * different order); gradients |diff| <= 1e-6 + 1e-4 |full path|.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { tf, type Tensor, type Tensor2D } from '../../../src/engine/backend/tf';
import { loadImageEncoder } from '../../../src/engine/model';
import { assertAllClose } from '../train/helpers/numeric';
import { FIXTURES, VARIANTS, fixtureInputs, maxAbsDiff, pixels, take, useWasm } from './helpers';

before(useWasm);

for (const variant of VARIANTS)
  for (const mode of ['full', 'lora'] as const) {
    test(`${variant}, ${mode}: CLS embedding from the CLS-only last layer = the full last layer's CLS row; same gradients`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, variant));
      try {
        if (mode === 'lora') {
          // Adapters on every linear, with B away from zero so that each one matters; a head on top.
          encoder.addLora({
            r: 4,
            alpha: 8,
            dropout: 0,
            targetModules: ['query', 'key', 'value', 'dense', 'fc1', 'fc2', 'weights_in', 'weights_out'],
          });
          encoder.setTrainable('lora');
          for (const [name, v] of encoder.trainableVariables())
            if (name.endsWith('lora_B.weight')) v.assign(tf.randomUniform(v.shape, -0.2, 0.2, 'float32', 3));
        } else {
          encoder.setTrainable('full');
        }
        encoder.pooling = 'cls';
        const vars = [...encoder.trainableVariables().values()];
        for (const [name, input] of fixtureInputs()) {
          const x = pixels(input);
          const n = x.shape[0];
          const fullPath = (): Tensor2D =>
            tf.reshape(tf.slice(encoder.lastHiddenState(x), [0, 0, 0], [n, 1, encoder.config.hiddenSize]), [
              n,
              encoder.config.hiddenSize,
            ]);
          const d = maxAbsDiff(take(encoder.embed(x)), take(fullPath()));
          assert.ok(d <= 1e-5, `${variant}/${name}: CLS embeddings differ by ${d}`);

          const r = tf.randomNormal([n, encoder.config.hiddenSize], 0, 1, 'float32', 7);
          const grads = (f: () => Tensor): Map<string, Float32Array> => {
            const { value, grads: g } = tf.variableGrads(() => tf.sum(tf.mul(f(), r)) as never, vars);
            value.dispose();
            return new Map(Object.entries(g).map(([k, t]) => [k, take(t)]));
          };
          const mine = grads(() => encoder.embed(x));
          const full = grads(fullPath);
          assert.equal(mine.size, full.size);
          for (const [k, g] of full)
            assertAllClose(mine.get(k)!, g, { rtol: 1e-4, atol: 1e-6 }, `${variant}/${name}: ${k}`);
          r.dispose();
          x.dispose();
        }
      } finally {
        encoder.dispose();
      }
    });
  }
