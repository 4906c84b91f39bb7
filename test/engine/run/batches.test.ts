import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PairRecord } from '../../../src/engine/data/pairDataset';
import {
  batchesFrom,
  endsEpoch,
  epochOrder,
  plannedSteps,
  stepsPerEpoch,
  takeSteps,
} from '../../../src/engine/run/training/batches';

const records: PairRecord[] = Array.from({ length: 23 }, (_, i) => ({
  query: `q${i}.jpg`,
  positive: `p${i}.jpg`,
  negatives: [],
  label: `product${i}`,
  file: 'train.jsonl',
  line: i + 1,
}));
const config = { epochs: 3, batch_size: 5, seed: 7 };

test('an epoch is full batches of distinct records, in an order that depends on (seed, epoch) only', () => {
  const all = [...batchesFrom(records, config, 0, 0)];
  assert.equal(all.length, 3 * stepsPerEpoch(23, 5));
  for (let epoch = 0; epoch < 3; epoch++) {
    const batches = all.filter((b) => b.epoch === epoch);
    assert.equal(batches.length, 4);
    const seen = batches.flatMap((b) => b.indices);
    assert.equal(new Set(seen).size, 20, 'no record twice in an epoch');
    for (const b of batches) {
      assert.equal(b.records.length, 5);
      assert.deepEqual(
        b.records.map((r) => r.query),
        b.indices.map((i) => `q${i}.jpg`),
      );
    }
    assert.deepEqual(seen, epochOrder(23, 7, epoch).slice(0, 20));
    assert.ok(endsEpoch(batches[3]!.endPosition, 23, 5) && !endsEpoch(batches[2]!.endPosition, 23, 5));
  }
  assert.notDeepEqual(epochOrder(23, 7, 0), epochOrder(23, 7, 1));
  assert.notDeepEqual(epochOrder(23, 7, 0), epochOrder(23, 8, 0));
  assert.deepEqual(epochOrder(23, 7, 2), epochOrder(23, 7, 2));
});

test('a run resumed at any (epoch, position) sees exactly the rest of the uninterrupted run', () => {
  const all = [...batchesFrom(records, config, 0, 0)];
  all.forEach((b, i) => {
    const next = all[i + 1];
    if (!next) return;
    const [epoch, position] = endsEpoch(b.endPosition, 23, 5) ? [b.epoch + 1, 0] : [b.epoch, b.endPosition];
    assert.deepEqual([...batchesFrom(records, config, epoch, position)], all.slice(i + 1));
  });
});

test('max_steps caps the planned steps; takeSteps stops there', () => {
  assert.equal(plannedSteps({ ...config, max_steps: 0 }, 23), 12);
  assert.equal(plannedSteps({ ...config, max_steps: 7 }, 23), 7);
  assert.equal(plannedSteps({ ...config, max_steps: 70 }, 23), 12);
  assert.equal([...takeSteps(batchesFrom(records, config, 0, 0), 7)].length, 7);
  assert.equal([...takeSteps(batchesFrom(records, config, 0, 0), 0)].length, 0);
  assert.equal(stepsPerEpoch(3, 5), 1, 'fewer records than a batch: one step of all of them');
});
