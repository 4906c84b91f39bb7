/**
 * The memory-saving paths of the hand-written backward passes give the same
 * numbers as the plain ones: attention probabilities recomputed in the
 * backward pass (full fine-tuning) instead of kept, for both attention
 * strategies. The recomputation repeats the forward pass's own ops on the
 * same inputs, so the results must be identical, not merely close. (The whole
 * model's gradients on these paths are checked against automatic
 * differentiation in gradients.test.ts.)
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor2D, type Variable } from '../../../src/engine/backend/tf';
import { attentionCore } from '../../../src/engine/model/ops';
import { randomDinov2Encoder } from '../../../src/engine/model/random';
import { take, useWasm } from './helpers';

before(useWasm);

function gradsOf(f: () => Tensor, vars: Variable[], r: Tensor): Float32Array[] {
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(f(), r)) as never, vars);
  value.dispose();
  return vars.map((v) => take(grads[v.name]!));
}

for (const strategy of ['blocks', 'batched'] as const) {
  test(`attention (${strategy}): recomputing the probabilities in the backward pass gives the same gradients as keeping them`, () => {
    const [n, T, heads, dh] = [2, 7, 3, 4];
    const mk = (s: number): Variable => tf.variable(tf.randomNormal([n * T, heads * dh], 0, 1, 'float32', s), true);
    const [q, k, v] = [mk(1), mk(2), mk(3)];
    const r = tf.randomNormal([n * T, heads * dh], 0, 1, 'float32', 4);
    const keep = gradsOf(
      () =>
        attentionCore(q as unknown as Tensor2D, k as unknown as Tensor2D, v as unknown as Tensor2D, {
          images: n,
          heads,
          scale: 0.5,
          strategy,
          recompute: false,
        }),
      [q, k, v],
      r,
    );
    const again = gradsOf(
      () =>
        attentionCore(q as unknown as Tensor2D, k as unknown as Tensor2D, v as unknown as Tensor2D, {
          images: n,
          heads,
          scale: 0.5,
          strategy,
          recompute: true,
        }),
      [q, k, v],
      r,
    );
    keep.forEach((g, i) => assert.deepEqual(again[i], g, `d${'qkv'[i]}`));
    tf.dispose([q, k, v, r]);
  });
}

test('full fine-tuning (probabilities recomputed, GELU slope kept, norm outputs recomputed): the same gradients twice, and no tensor left behind', () => {
  const config = { hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 2, image_size: 28 };
  const full = randomDinov2Encoder(config, { seed: 4 });
  full.setTrainable('full');
  const x = tf.randomNormal([3, 28, 28, 3], 0, 1, 'float32', 9);
  const r = tf.randomNormal([3, 24], 0, 1, 'float32', 10);
  const vars = [...full.trainableVariables().values()];
  const tensorsBefore = tf.memory().numTensors;
  const once = gradsOf(() => full.embed(x as never), vars, r);
  assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors left behind by a forward and backward pass');
  const twice = gradsOf(() => full.embed(x as never), vars, r);
  once.forEach((g, i) => assert.deepEqual(twice[i], g, vars[i]!.name));
  assert.ok(once.every((g) => g.every(Number.isFinite)));
  tf.dispose([x, r]);
  full.dispose();
});
