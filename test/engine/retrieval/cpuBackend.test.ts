// The same search on the pure-JavaScript backend, where blocks are read with dataSync()
// instead of the wasm heap view: results must not depend on the backend.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf } from '../../../src/engine/backend/tf';
import { evaluateRetrieval } from '../../../src/engine/retrieval/evaluate';
import { prepareGallery, searchExact } from '../../../src/engine/retrieval/exactSearch';
import { referenceProtocol, seeded, tiedVectors } from './reference';

before(async () => {
  await activateBackend('cpu');
});

test('all-pairs protocol and exact search on the cpu backend equal the full-sort reference', async () => {
  assert.equal(tf.getBackend(), 'cpu');
  const rand = seeded(12);
  const n = 120;
  const d = 32;
  const data = tiedVectors(n, d, rand);
  const labels = Array.from({ length: n }, () => Math.floor(rand() * 30));
  const ks = [1, 5, 20];
  const ev = await evaluateRetrieval({ data, n, d }, labels, {
    recallKs: ks,
    neighbours: 5,
    blockSize: 23,
    threads: 'auto',
  });
  assert.equal(ev.threads, 1, 'no worker threads off the wasm backend');
  const ref = referenceProtocol(data, n, d, labels, ks);
  for (const K of ks) assert.equal(ev.metrics[`recall@${K}`], ref.recall[K]);
  assert.ok(Math.abs(ev.metrics['map@r']! - ref.mapAtR) < 1e-12);
  for (let q = 0; q < n; q++)
    assert.deepEqual(Array.from(ev.neighbours.indices.subarray(q * 5, q * 5 + 5)), ref.rankings[q]!.slice(0, 5));

  const exclude = Int32Array.from({ length: n }, (_, i) => i);
  const found = searchExact({ data, n, d }, prepareGallery({ data, n, d }, 17), { k: 5, exclude, queryChunk: 31 });
  assert.deepEqual(found.indices, ev.neighbours.indices);
  assert.deepEqual(found.scores, ev.neighbours.scores);
});
