// One training step end to end on the tiny encoder: cache on and off agree,
// the same seed gives the same losses, tensors do not pile up, and a
// non-finite loss stops the step with an error that says why.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor2D, type Tensor4D, type Variable } from '../../../src/engine/backend/tf';
import type { ImageEncoder, PixelBatch } from '../../../src/engine/model/types';
import { NonFiniteTrainingError } from '../../../src/engine/train/errors';
import type { PairBatch } from '../../../src/engine/train/gradients';
import { AdamW } from '../../../src/engine/train/optim/adamw';
import { learningRateAt, scheduleFromConfig } from '../../../src/engine/train/optim/schedule';
import { trainStep, type TrainStepConfig, type TrainStepResult } from '../../../src/engine/train/step';
import { maxAbsDiff } from './helpers/numeric';
import { TinyEncoder } from './helpers/tinyEncoder';

const SIZE = 6;

function batchAt(index: number, n: number): PairBatch {
  let s = 1000 + index;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const make = (): PixelBatch => ({
    data: Float32Array.from({ length: n * SIZE * SIZE * 3 }, next),
    n,
    height: SIZE,
    width: SIZE,
  });
  return { queries: make(), positives: make(), labels: Array.from({ length: n }, (_, i) => (i * 7 + index) % 5) };
}

function config(overrides: Partial<TrainStepConfig> = {}): TrainStepConfig {
  return {
    loss_type: 'infonce',
    temperature: 0.05,
    triplet_margin: 0.2,
    max_grad_norm: 1.0,
    use_gradient_cache: true,
    gradient_cache_chunk_size: 3,
    seed: 42,
    ...overrides,
  };
}

const schedule = scheduleFromConfig(
  { scheduler_type: 'cosine', learning_rate: 1e-2, warmup_ratio: 0.2, warmup_steps: 0 },
  10,
);

function run(
  steps: number,
  cfg: TrainStepConfig,
  dropout: number,
  n = 8,
): { results: TrainStepResult[]; weights: Map<string, Float32Array>; tensorCounts: number[] } {
  const encoder = new TinyEncoder({ height: SIZE, width: SIZE, hidden: 16, dim: 8, dropout, seed: 3 });
  const optimizer = new AdamW(encoder.trainableVariables(), { weightDecay: 0.01 });
  const results: TrainStepResult[] = [];
  const tensorCounts: number[] = [];
  for (let s = 0; s < steps; s++) {
    results.push(trainStep({ encoder, optimizer, schedule, config: cfg, batch: batchAt(s, n), globalStep: s }));
    tensorCounts.push(tf.memory().numTensors);
  }
  const weights = encoder.snapshot();
  optimizer.dispose();
  encoder.dispose();
  return { results, weights, tensorCounts };
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`trainStep on ${backend}`, () => {
    before(async () => {
      await activateBackend(backend);
    });

    test('with and without the gradient cache the same steps give the same model', () => {
      // float32 sums in another order: losses and grad norms agree to 1e-5
      // relative (norms here are ~40), weights to 1e-5 absolute.
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));
      const cached = run(4, config(), 0);
      const plain = run(4, config({ use_gradient_cache: false }), 0);
      assert.ok(cached.results.every((r) => r.usedGradientCache));
      assert.ok(plain.results.every((r) => !r.usedGradientCache));
      for (let i = 0; i < 4; i++) {
        const [c, p] = [cached.results[i]!, plain.results[i]!];
        assert.ok(close(c.loss, p.loss), `loss at step ${i + 1}: ${c.loss} vs ${p.loss}`);
        assert.ok(close(c.gradNorm, p.gradNorm), `grad norm at step ${i + 1}: ${c.gradNorm} vs ${p.gradNorm}`);
      }
      for (const [name, w] of plain.weights) assert.ok(maxAbsDiff(cached.weights.get(name)!, w) < 1e-5, name);
    });

    test('step results: scheduled lr (0 on the first warmup step), global step, clipping, and real updates', () => {
      const { results, weights } = run(4, config({ max_grad_norm: 0.01 }), 0);
      results.forEach((r, i) => {
        assert.equal(r.globalStep, i + 1);
        assert.equal(r.lr, learningRateAt(schedule, i));
        assert.ok(r.gradNorm > 0.01 && r.clipped, `step ${i + 1}: norm ${r.gradNorm} clipped`);
      });
      assert.equal(results[0]!.lr, 0);
      const untouched = run(1, config(), 0).weights;
      const fresh = new TinyEncoder({ height: SIZE, width: SIZE, hidden: 16, dim: 8, seed: 3 });
      for (const [name, w] of fresh.snapshot())
        assert.equal(maxAbsDiff(untouched.get(name)!, w), 0, `lr 0 leaves ${name} as it was`);
      fresh.dispose();
      assert.ok(
        maxAbsDiff(weights.get('fc1.weight')!, untouched.get('fc1.weight')!) > 1e-4,
        'later steps move the weights',
      );
    });

    test('the same seed gives the same losses with dropout on; another seed does not', () => {
      const a = run(4, config(), 0.2);
      const b = run(4, config(), 0.2);
      const c = run(4, config({ seed: 7 }), 0.2);
      assert.deepEqual(
        a.results.map((r) => r.loss),
        b.results.map((r) => r.loss),
      );
      assert.notDeepEqual(a.results.map((r) => r.loss).slice(1), c.results.map((r) => r.loss).slice(1));
    });

    test('tf.memory().numTensors does not grow across steps (cache on, chunk not dividing the batch)', () => {
      const { tensorCounts } = run(5, config({ gradient_cache_chunk_size: 3 }), 0.2, 7);
      // After the first step AdamW's moments exist; from then on the count is flat.
      assert.deepEqual(
        tensorCounts.slice(1),
        tensorCounts.slice(1).map(() => tensorCounts[0]!),
      );
    });

    test('a non-finite loss throws a typed error naming the step and causes, and changes nothing', () => {
      const encoder = new TinyEncoder({ height: SIZE, width: SIZE, hidden: 16, dim: 8, seed: 3 });
      const optimizer = new AdamW(encoder.trainableVariables(), { weightDecay: 0.01 });
      const before = encoder.snapshot();
      const tensors = tf.memory().numTensors;
      // A temperature below float32's range: cos / t overflows to Infinity and the softmax to NaN.
      const cfg = config({ temperature: 1e-46 });
      assert.throws(
        () => trainStep({ encoder, optimizer, schedule, config: cfg, batch: batchAt(0, 8), globalStep: 6 }),
        (e: unknown) => {
          assert.ok(e instanceof NonFiniteTrainingError);
          assert.equal(e.step, 7);
          assert.equal(e.quantity, 'loss');
          assert.match(e.message, /The loss is NaN at step 7; the update was not applied/);
          assert.match(e.message, /learning rate is too high \(this step used [0-9.e-]+\)/);
          assert.match(e.message, /temperature is too low \(temperature: 1e-46\)/);
          return true;
        },
      );
      assert.equal(tf.memory().numTensors, tensors, 'nothing left behind');
      for (const [name, w] of encoder.snapshot())
        assert.equal(maxAbsDiff(w, before.get(name)!), 0, `${name} unchanged`);
      optimizer.dispose();
      encoder.dispose();
    });

    test('a finite loss with an infinite gradient stops at the gradient norm, before the update', () => {
      // embed = first D pixels + sqrt(w) with w = 0: the forward pass is finite, d sqrt(w)/dw is not.
      const w = tf.variable(tf.zeros([8]), true);
      const kept = tf.variable(tf.ones([8]), true);
      const encoder: ImageEncoder = {
        embeddingDim: 8,
        processing: { imageSize: SIZE, resizeShortestEdge: SIZE, mean: [0, 0, 0], std: [1, 1, 1], rescaleFactor: 1 },
        embed: (pixels: Tensor4D) =>
          tf.tidy(
            () =>
              tf.add(
                tf.mul(tf.slice(tf.reshape(pixels, [pixels.shape[0], -1]), [0, 0], [-1, 8]), kept),
                tf.sqrt(w),
              ) as Tensor2D,
          ),
        trainableVariables: () =>
          new Map<string, Variable>([
            ['w', w],
            ['kept.weight', kept],
          ]),
        dispose: () => tf.dispose([w, kept]),
      };
      const optimizer = new AdamW(encoder.trainableVariables(), { weightDecay: 0.01 });
      const tensors = tf.memory().numTensors;
      assert.throws(
        () =>
          trainStep({
            encoder,
            optimizer,
            schedule: () => 1e-3,
            config: config(),
            batch: batchAt(0, 8),
            globalStep: 0,
          }),
        (e: unknown) =>
          e instanceof NonFiniteTrainingError &&
          e.quantity === 'gradient norm' &&
          e.step === 1 &&
          /The gradient norm is (NaN|Infinity) at step 1/.test(e.message),
      );
      assert.equal(tf.memory().numTensors, tensors, 'nothing left behind');
      assert.deepEqual(Array.from(kept.dataSync()), new Array(8).fill(1), 'no update applied');
      optimizer.dispose();
      encoder.dispose();
    });
  });
}
