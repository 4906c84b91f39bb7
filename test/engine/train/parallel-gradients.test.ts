// The gradient cache spread over the main thread and a worker thread (each with its own wasm backend and
// model copy) against the serial gradient cache on a tiny DINOv2: the loss must be identical (the
// embeddings are computed by the same code on the same chunks), the gradients equal up to the order of
// the final additions (|diff| <= 1e-6 + 1e-5 |serial|), with LoRA dropout on and with full fine-tuning;
// a worker that dies mid-run costs nothing but time.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor } from '../../../src/engine/backend/tf';
import type { Dinov2ImageEncoder } from '../../../src/engine/model/encoder';
import { randomDinov2Encoder } from '../../../src/engine/model/random';
import type { PixelBatch } from '../../../src/engine/model/types';
import { cachedGradients, type GradientOptions, type PairBatch } from '../../../src/engine/train/gradients';
import type { LoadablePixels } from '../../../src/engine/train/pixels';
import { AdamW } from '../../../src/engine/train/optim/adamw';
import { GradientLanes } from '../../../src/engine/train/parallel/lanes';
import { trainStep, trainStepParallel, type TrainStepConfig } from '../../../src/engine/train/step';
import { Rng } from '../../../src/engine/util/rng';
import { assertAllClose } from './helpers/numeric';

const TINY = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, image_size: 28 };
const SIZE = 28;
const TOL = { rtol: 1e-5, atol: 1e-6 };

function randomBatch(n: number, seed: number): PairBatch {
  const rng = new Rng(seed);
  const make = (): PixelBatch => ({
    data: Float32Array.from({ length: n * SIZE * SIZE * 3 }, () => rng.uniform(-2, 2)),
    n,
    height: SIZE,
    width: SIZE,
  });
  return { queries: make(), positives: make(), labels: Array.from({ length: n }, (_, i) => i % 4) };
}

function loraEncoder(): Dinov2ImageEncoder {
  const e = randomDinov2Encoder(TINY, { seed: 2 });
  e.addLora({ r: 4, alpha: 8, dropout: 0.2, targetModules: null });
  e.setTrainable('lora');
  // B starts at zero; give it values so that A gets gradients too.
  const rng = new Rng(4);
  for (const [name, v] of e.trainableVariables())
    if (name.endsWith('lora_B.weight'))
      v.assign(
        tf.tensor(
          Float32Array.from({ length: v.size }, () => rng.uniform(-0.1, 0.1)),
          v.shape,
        ),
      );
  e.setProjectionHead(16);
  e.setTrainable('lora');
  return e;
}

function arrays(grads: Map<string, Tensor>): Map<string, Float32Array> {
  const out = new Map([...grads].map(([k, g]) => [k, g.dataSync() as Float32Array]));
  for (const g of grads.values()) g.dispose();
  return out;
}

const options = (step: number): GradientOptions => ({
  loss: { loss_type: 'infonce', temperature: 0.05, triplet_margin: 0.2 },
  chunkSize: 2,
  training: true,
  seed: 7,
  step,
});

before(async () => {
  await activateBackend('wasm');
});

describe('gradient cache over lanes', () => {
  let lora: Dinov2ImageEncoder;
  let lanes: GradientLanes;
  const notes: string[] = [];

  before(async () => {
    lora = loraEncoder();
    lanes = await GradientLanes.start(lora, 1, (m) => notes.push(m));
  });
  after(async () => {
    await lanes.close();
    lora.dispose();
  });

  test('LoRA with dropout: same loss, same gradients (5 chunks per side over 2 lanes)', async () => {
    assert.equal(lanes.size, 2);
    const batch = randomBatch(9, 11);
    const serial = cachedGradients(lora, batch, options(3));
    const parallel = await lanes.cachedGradients(lora, batch, options(3));
    assert.equal(parallel.loss, serial.loss);
    const s = arrays(serial.grads);
    const p = arrays(parallel.grads);
    assert.deepEqual([...p.keys()].sort(), [...s.keys()].sort());
    assert.ok(s.size > 2);
    for (const [name, g] of s) assertAllClose(p.get(name)!, g, TOL, name);
    assert.deepEqual(notes, []);
  });

  test('three training steps: the workers follow the updated weights, and the losses match the serial run', async () => {
    const cfg: TrainStepConfig = {
      loss_type: 'infonce',
      temperature: 0.05,
      triplet_margin: 0.2,
      max_grad_norm: 1.0,
      use_gradient_cache: true,
      gradient_cache_chunk_size: 2,
      seed: 5,
    };
    const run = async (parallel: boolean): Promise<{ losses: number[]; weights: Map<string, Float32Array> }> => {
      const e = loraEncoder();
      const l = parallel ? await GradientLanes.start(e, 1) : null;
      const optimizer = new AdamW(e.trainableVariables(), { weightDecay: 0.01 });
      const losses: number[] = [];
      try {
        for (let s = 0; s < 3; s++) {
          const input = {
            encoder: e,
            optimizer,
            schedule: () => 1e-2,
            config: cfg,
            batch: randomBatch(5, 20 + s),
            globalStep: s,
          };
          losses.push((l ? await trainStepParallel(input, l) : trainStep(input)).loss);
        }
        return {
          losses,
          weights: new Map([...e.trainableVariables()].map(([k, v]) => [k, v.dataSync() as Float32Array])),
        };
      } finally {
        await l?.close();
        e.dispose();
      }
    };
    const serial = await run(false);
    const parallel = await run(true);
    assertAllClose(parallel.losses, serial.losses, { rtol: 1e-5, atol: 1e-6 }, 'losses');
    for (const [name, w] of serial.weights)
      assertAllClose(parallel.weights.get(name)!, w, { rtol: 1e-4, atol: 1e-6 }, name);
  });

  test('sides loaded chunk by chunk: every chunk loaded once a pass, same loss and gradients as the batch in memory, with and without workers', async () => {
    const batch = randomBatch(7, 51);
    const serial = cachedGradients(lora, batch, options(4));
    const s = arrays(serial.grads);
    const loads: string[] = [];
    const loadable = (side: string, px: PixelBatch): LoadablePixels => ({
      n: px.n,
      load: async (start, count) => {
        loads.push(`${side} ${start}+${count}`);
        await new Promise((r) => setTimeout(r, 1)); // resolves later, as decoding does
        const per = px.height * px.width * 3;
        return {
          data: px.data.slice(start * per, (start + count) * per),
          n: count,
          height: px.height,
          width: px.width,
        };
      },
    });
    const lazy = {
      queries: loadable('q', batch.queries as PixelBatch),
      positives: loadable('p', batch.positives as PixelBatch),
      labels: batch.labels!,
    };
    const mainOnly = await GradientLanes.start(lora, 0);
    for (const l of [mainOnly, lanes]) {
      loads.length = 0;
      const got = await l.cachedGradients(lora, lazy, options(4));
      assert.equal(got.loss, serial.loss, `${l.size} lane(s)`);
      const g = arrays(got.grads);
      assert.deepEqual([...g.keys()].sort(), [...s.keys()].sort());
      for (const [name, v] of s) assertAllClose(g.get(name)!, v, TOL, `${l.size} lane(s): ${name}`);
      // 4 chunks of 2 per side (the last one 1 image), each loaded in both passes.
      const expected = ['q 0+2', 'q 2+2', 'q 4+2', 'q 6+1', 'p 0+2', 'p 2+2', 'p 4+2', 'p 6+1'];
      assert.deepEqual([...loads].sort(), [...expected, ...expected].sort(), `${l.size} lane(s)`);
    }
    await mainOnly.close();
  });

  test('a chunk that fails to load fails the step with its error; the worker stays and the next step is right', async () => {
    const batch = randomBatch(8, 52);
    const px = batch.queries as PixelBatch;
    const per = SIZE * SIZE * 3;
    const broken: LoadablePixels = {
      n: 8,
      load: async (start, count) => {
        // Chunk 3 belongs to the worker's lane (odd chunks): the failure must not be blamed on the worker.
        if (start === 6) throw new Error('cannot decode images/x.jpg');
        return { data: px.data.slice(start * per, (start + count) * per), n: count, height: SIZE, width: SIZE };
      },
    };
    await assert.rejects(
      lanes.cachedGradients(lora, { ...batch, queries: broken }, options(5)),
      /cannot decode images\/x\.jpg/,
    );
    assert.equal(lanes.size, 2);
    assert.deepEqual(notes, []);
    const serial = cachedGradients(lora, batch, options(6));
    const again = await lanes.cachedGradients(lora, batch, options(6));
    assert.equal(again.loss, serial.loss);
    const s = arrays(serial.grads);
    for (const [name, g] of arrays(again.grads)) assertAllClose(g, s.get(name)!, TOL, name);
  });

  test('a worker that dies between steps: its chunks run on the main thread, with a note, and nothing changes', async () => {
    const batch = randomBatch(6, 31);
    const serial = arrays(cachedGradients(lora, batch, options(9)).grads);
    const doomed = await GradientLanes.start(lora, 1, (m) => notes.push(m));
    try {
      await (doomed as unknown as { workers: Array<{ close(): Promise<void> }> }).workers[0]!.close();
      const parallel = await doomed.cachedGradients(lora, batch, options(9));
      for (const [name, g] of arrays(parallel.grads)) assertAllClose(g, serial.get(name)!, TOL, name);
      assert.equal(doomed.size, 1);
      assert.equal(notes.length, 1);
      assert.match(notes[0]!, /gradient worker closed; its chunks run on the main thread/);
    } finally {
      await doomed.close();
    }
  });
});

test('full fine-tuning over lanes: same loss, same gradients for every weight', async () => {
  const e = randomDinov2Encoder(TINY, { seed: 3 });
  e.setTrainable('full');
  const lanes = await GradientLanes.start(e, 1);
  try {
    const batch = randomBatch(4, 41);
    const serial = cachedGradients(e, batch, options(1));
    const parallel = await lanes.cachedGradients(e, batch, options(1));
    assert.equal(parallel.loss, serial.loss);
    const s = arrays(serial.grads);
    const p = arrays(parallel.grads);
    assert.equal(p.size, s.size);
    for (const [name, g] of s) assertAllClose(p.get(name)!, g, TOL, name);
  } finally {
    await lanes.close();
    e.dispose();
  }
});
