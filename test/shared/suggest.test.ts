import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance, suggest } from '../../src/shared/text/suggest';

test('edit distance counts an adjacent swap as one edit', () => {
  assert.equal(editDistance('learning_rte', 'learning_rate'), 1);
  assert.equal(editDistance('infonse', 'infonce'), 1);
  assert.equal(editDistance('abcd', 'abdc'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('suggestions only for plausible typos', () => {
  assert.equal(suggest('learning_rte', ['learning_rate', 'lr']), 'learning_rate');
  assert.equal(suggest('Batch_Size', ['batch_size']), 'batch_size');
  assert.equal(suggest('colour', ['color_jitter', 'epochs']), undefined);
  assert.equal(suggest('x', ['y']), 'y', 'one edit allowed even for short words');
  assert.equal(suggest('xy', ['ab']), undefined);
});
