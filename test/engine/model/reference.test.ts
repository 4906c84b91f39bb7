/**
 * The TypeScript DINOv2 against the independent PyTorch reference
 * (scripts/reference/make_dinov2_fixtures.py, float64): three tiny random
 * models (plain F32, SwiGLU BF16, 4 registers F16), each on a native-size
 * image (no position resize), a larger one (upsampled grid) and a non-square
 * batch of two (downsampled, 2x3 grid).
 *
 * Tolerance 1e-4 on every output. Measured on wasm: max |diff| 2.6e-6 on
 * last_hidden_state, 1.4e-6 on pooled outputs (cls and mean).
 *
 * The paper version (dinov2Paper.ts), which gradients.test.ts holds the fast
 * version's gradients to, is checked here against the same outputs (measured:
 * 2.6e-6 and 1.2e-6).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { tf } from '../../../src/engine/backend/tf';
import { loadImageEncoder } from '../../../src/engine/model';
import { dinov2, pool } from '../../../src/engine/model/dinov2Paper';
import { expectedOutputs, FIXTURES, fixtureInputs, maxAbsDiff, pixels, take, useWasm, VARIANTS } from './helpers';

const TOLERANCE = 1e-4;

before(useWasm);

describe('DINOv2 forward pass matches the PyTorch reference', () => {
  for (const variant of VARIANTS) {
    test(`${variant}: last_hidden_state, CLS and mean pooling within ${TOLERANCE} (measured <= 3e-6)`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, variant));
      const expected = expectedOutputs(variant);
      const before = tf.memory().numTensors;
      try {
        for (const [name, input] of fixtureInputs()) {
          const x = pixels(input);
          const last = encoder.lastHiddenState(x);
          assert.deepEqual(last.shape, expected.get(`${name}.last_hidden_state`)!.shape, `${name} shape`);
          const dLast = maxAbsDiff(take(last), expected.get(`${name}.last_hidden_state`)!.data);
          encoder.pooling = 'cls';
          const dCls = maxAbsDiff(take(encoder.embed(x)), expected.get(`${name}.cls`)!.data);
          encoder.pooling = 'mean';
          const dMean = maxAbsDiff(take(encoder.embed(x)), expected.get(`${name}.mean`)!.data);
          x.dispose();
          assert.ok(dLast < TOLERANCE, `${variant}/${name}: last_hidden_state differs by ${dLast}`);
          assert.ok(dCls < TOLERANCE, `${variant}/${name}: cls differs by ${dCls}`);
          assert.ok(dMean < TOLERANCE, `${variant}/${name}: mean differs by ${dMean}`);
        }
        assert.equal(encoder.embeddingDim, 32);
        assert.deepEqual(encoder.processing, {
          imageSize: 56,
          resizeShortestEdge: 64,
          mean: [0.485, 0.456, 0.406],
          std: [0.229, 0.224, 0.225],
          rescaleFactor: 0.00392156862745098,
        });
      } finally {
        encoder.dispose();
      }
      // The forward pass leaks nothing; the cached position grids go with the encoder.
      assert.ok(tf.memory().numTensors <= before, `tensors leaked: ${tf.memory().numTensors - before}`);
    });
  }

  for (const variant of VARIANTS) {
    test(`${variant}: the paper version gives the same outputs within ${TOLERANCE}`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, variant));
      const expected = expectedOutputs(variant);
      const { weights } = encoder.forwardWeights();
      const c = encoder.config;
      try {
        for (const [name, input] of fixtureInputs()) {
          const dLast = tf.tidy(() =>
            maxAbsDiff(dinov2(pixels(input), weights, c).dataSync(), expected.get(`${name}.last_hidden_state`)!.data),
          );
          for (const method of ['cls', 'mean'] as const) {
            const d = tf.tidy(() =>
              maxAbsDiff(
                pool(dinov2(pixels(input), weights, c), method, c.numRegisterTokens).dataSync(),
                expected.get(`${name}.${method}`)!.data,
              ),
            );
            assert.ok(d < TOLERANCE, `${variant}/${name}: ${method} differs by ${d}`);
          }
          assert.ok(dLast < TOLERANCE, `${variant}/${name}: last_hidden_state differs by ${dLast}`);
        }
      } finally {
        encoder.dispose();
      }
    });
  }

  test('a PEFT LoRA adapter (A [r, in], B [out, r], scale alpha/r) matches the reference with W + scale * B A', async () => {
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'plain-lora'), {
      resolveBase: async (name) => {
        assert.equal(name, 'tiny-random/dinov2-plain');
        return path.join(FIXTURES, 'plain');
      },
    });
    try {
      assert.deepEqual(encoder.loraSettings, {
        r: 2,
        alpha: 4,
        dropout: 0.1,
        targetModules: ['dense', 'key', 'query', 'value'],
        useRslora: false,
      });
      assert.equal(encoder.loraModules().length, 8);
      const expected = expectedOutputs('plain-lora');
      for (const [name, input] of fixtureInputs()) {
        const x = pixels(input);
        const d = maxAbsDiff(take(encoder.lastHiddenState(x)), expected.get(`${name}.last_hidden_state`)!.data);
        // Dropout is off outside training.
        const dTrainOff = maxAbsDiff(
          take(encoder.embed(x, { training: false, dropoutSeed: 5 })),
          expected.get(`${name}.cls`)!.data,
        );
        x.dispose();
        assert.ok(d < TOLERANCE, `${name}: differs by ${d}`);
        assert.ok(dTrainOff < TOLERANCE, `${name}: cls differs by ${dTrainOff}`);
      }
    } finally {
      encoder.dispose();
    }
  });
});
