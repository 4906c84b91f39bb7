// Learning-rate schedules against Hugging Face's formulas driven by torch's
// LambdaLR (test/fixtures/train/schedules.json): the lr each optimizer step uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  learningRateAt,
  resolveWarmupSteps,
  scheduleFromConfig,
  type SchedulerType,
} from '../../../src/engine/train/optim/schedule';
import { assertAllClose, loadFixture } from './helpers/numeric';

interface ScheduleCase {
  scheduler_type: SchedulerType;
  learning_rate: number;
  total_steps: number;
  warmup_ratio: number;
  warmup_steps: number;
  expected_warmup: number;
  lr_at_step: number[];
}
const { cases } = loadFixture<{ cases: ScheduleCase[] }>('schedules.json');

for (const c of cases) {
  test(`${c.scheduler_type}, ${c.total_steps} steps, warmup_ratio ${c.warmup_ratio}, warmup_steps ${c.warmup_steps}`, () => {
    const spec = scheduleFromConfig(c, c.total_steps);
    assert.equal(spec.warmupSteps, c.expected_warmup);
    const got = c.lr_at_step.map((_, step) => learningRateAt(spec, step));
    // Both sides compute in float64; only the order of operations differs.
    assertAllClose(got, c.lr_at_step, { rtol: 1e-12, atol: 1e-18 }, 'lr(step)');
  });
}

test('warmup: warmup_steps > 0 wins, otherwise ceil(ratio x total)', () => {
  assert.equal(resolveWarmupSteps(1000, 0.1, 0), 100);
  assert.equal(resolveWarmupSteps(1001, 0.1, 0), 101);
  assert.equal(resolveWarmupSteps(1000, 0.1, 7), 7);
  assert.equal(resolveWarmupSteps(5, 0, 0), 0);
});

test('a run needs a positive step count; an unknown scheduler is named', () => {
  const config = { scheduler_type: 'cosine', learning_rate: 1e-4, warmup_ratio: 0.1, warmup_steps: 0 } as const;
  assert.throws(() => scheduleFromConfig(config, 0), /total number of optimizer steps/);
  const spec = { ...scheduleFromConfig(config, 10), schedulerType: 'polynomial' as SchedulerType };
  assert.throws(() => learningRateAt(spec, 5), /scheduler_type 'polynomial' is not implemented/);
});
