/**
 * The whole model's hand-written backward pass (dinov2.ts, one tape node per
 * block) against tfjs' automatic differentiation of the paper version
 * (dinov2Paper.ts, plain tf ops), on the tiny plain and SwiGLU fixtures, at a
 * size that resizes the position embeddings. Loss = sum(embedding * R) for a
 * fixed R.
 *
 * Tolerance: max |diff| <= 1e-4 * max(1, max |grad|) per variable (measured:
 * below 2e-6 relative).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { tf, type Tensor2D, type Tensor4D } from '../../../src/engine/backend/tf';
import { loadImageEncoder, mlpHiddenSize, type Dinov2ImageEncoder, type FinetuneMode } from '../../../src/engine/model';
import { dinov2Embedding } from '../../../src/engine/model/dinov2Paper';
import { FIXTURES, fixtureInputs, pixels, take, useWasm } from './helpers';

before(useWasm);

function compareGradients(encoder: Dinov2ImageEncoder, x: Tensor4D): number {
  const trainable = encoder.trainableVariables();
  const vars = [...trainable.values()];
  const r = tf.randomNormal([x.shape[0], encoder.embeddingDim], 0, 1, 'float32', 11);
  const mine = tf.variableGrads(() => tf.sum(tf.mul(encoder.embed(x), r)) as never, vars);
  const { weights, head } = encoder.forwardWeights();
  const paper = (): Tensor2D => dinov2Embedding(x, weights, encoder.config, encoder.pooling, head);
  const ref = tf.variableGrads(() => tf.sum(tf.mul(paper(), r)) as never, vars);
  assert.ok(Math.abs(take(mine.value)[0]! - take(ref.value)[0]!) < 1e-4, 'loss values differ');
  let worst = 0;
  for (const [name, variable] of trainable) {
    const a = take(mine.grads[variable.name]!);
    const b = take(ref.grads[variable.name]!);
    let scale = 1;
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(b[i]!));
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    }
    worst = Math.max(worst, diff / scale);
    assert.ok(diff <= 1e-4 * scale, `${name}: gradient differs by ${diff} (scale ${scale})`);
  }
  r.dispose();
  return worst;
}

describe('whole-model gradients equal automatic differentiation of the paper version', () => {
  const cases: Array<[string, string, FinetuneMode]> = [
    ['plain', 'full fine-tuning (every parameter, position embeddings through the resize)', { kind: 'full' }],
    ['swiglu', 'full fine-tuning with SwiGLU and no qkv bias', { kind: 'full' }],
    [
      'plain',
      'LoRA on query/key/value/dense and fc1 (dropout 0)',
      {
        kind: 'lora',
        settings: { r: 3, alpha: 6, dropout: 0, targetModules: ['query', 'key', 'value', 'dense', 'fc1'] },
      },
    ],
  ];
  for (const [variant, label, finetune] of cases) {
    test(`${variant}: ${label}`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, variant), { finetune, seed: 4 });
      const x = pixels(fixtureInputs().get('larger')!);
      try {
        if (finetune.kind === 'lora') {
          // B away from zero, so that every adapter matters.
          const vars = encoder.trainableVariables();
          for (const modulePath of encoder.loraModules()) {
            const b = vars.get(`${modulePath}.lora_B.weight`)!;
            b.assign(tf.tidy(() => tf.randomNormal(b.shape, 0, 0.3, 'float32', 3)));
          }
        }
        const worst = compareGradients(encoder, x);
        assert.ok(worst < 1e-4, `worst relative difference ${worst}`);
        assert.ok(mlpHiddenSize(encoder.config) > 0);
      } finally {
        x.dispose();
        encoder.dispose();
      }
    });
  }
});
