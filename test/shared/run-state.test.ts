import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEvent, type EventBody } from '../../src/shared/protocol';
import { MAX_POINTS, bestMetric, foldRun, summarizeRun } from '../../src/shared/runState';

const ev = (b: EventBody) => makeEvent(b, new Date('2026-01-01T00:00:00Z'));

test('a run folds from its events', () => {
  const s = foldRun([
    ev({
      type: 'run_started',
      command: 'train',
      backend: 'wasm',
      device: 'WebAssembly',
      totalSteps: 4,
      epochs: 2,
      runDir: '/r',
    }),
    ev({
      type: 'evaluation',
      epoch: 0,
      step: 0,
      split: 'val',
      metrics: { 'recall@1': 0.2 },
      numImages: 10,
      numValidQueries: 9,
    }),
    ev({ type: 'step', step: 1, epoch: 1, loss: 2, lr: 0.1 }),
    ev({ type: 'step', step: 2, epoch: 1, loss: 1.5, lr: 0.2, etaSeconds: 10 }),
    ev({
      type: 'evaluation',
      epoch: 1,
      step: 2,
      split: 'val',
      metrics: { 'recall@1': 0.5 },
      numImages: 10,
      numValidQueries: 9,
    }),
    ev({ type: 'checkpoint', path: '/r/checkpoint-epoch-1', step: 2, epoch: 1, kind: 'epoch' }),
    ev({ type: 'step', step: 3, epoch: 2, loss: 1, lr: 0.1 }),
    ev({
      type: 'evaluation',
      epoch: 2,
      step: 4,
      split: 'val',
      metrics: { 'recall@1': 0.4 },
      numImages: 10,
      numValidQueries: 9,
    }),
    ev({ type: 'warning', message: 'w' }),
    ev({ type: 'finished', status: 'completed', seconds: 12 }),
  ]);
  assert.equal(s.status, 'completed');
  assert.equal(s.backend, 'wasm');
  assert.deepEqual(s.lossCurve, [
    { step: 1, value: 2 },
    { step: 2, value: 1.5 },
    { step: 3, value: 1 },
  ]);
  assert.deepEqual(
    s.evaluations.map((e) => e.epoch),
    [0, 1, 2],
  );
  assert.equal(bestMetric(s), 0.5, 'the best after training, not the before value');
  assert.equal(s.checkpoints.length, 1);
  assert.deepEqual(s.warnings, ['w']);
  assert.equal(summarizeRun(s), 'completed · step 3/4 · epoch 2/2 · R@1 50.0%');
});

test('curves stay bounded on long runs and keep their shape', () => {
  const events = [ev({ type: 'run_started', command: 'train', backend: 'wasm', device: 'x' })];
  const n = MAX_POINTS * 5;
  for (let i = 1; i <= n; i++) events.push(ev({ type: 'step', step: i, epoch: 1, loss: 1 / i, lr: 1e-3 }));
  const s = foldRun(events);
  assert.ok(s.lossCurve.length <= MAX_POINTS, String(s.lossCurve.length));
  assert.ok(s.lossCurve.length >= MAX_POINTS / 4);
  assert.equal(s.lossCurve[0]!.step % s.thin, 0);
  assert.ok(
    s.lossCurve.every((p, i, a) => i === 0 || p.step > a[i - 1]!.step),
    'steps increase',
  );
  assert.ok(s.lossCurve[s.lossCurve.length - 1]!.step > n - 2 * s.thin, 'the latest steps are on the curve');
  assert.equal(s.step, n);
});

test('an error and a failed finish are kept', () => {
  const s = foldRun([
    ev({ type: 'error', code: 'non-finite-loss', message: 'loss is NaN at step 7', hint: 'lower the learning rate' }),
    ev({ type: 'finished', status: 'failed', seconds: 1 }),
  ]);
  assert.equal(s.status, 'failed');
  assert.deepEqual(s.error, {
    code: 'non-finite-loss',
    message: 'loss is NaN at step 7',
    hint: 'lower the learning rate',
  });
});
