// Chunked exact search: independent of chunk sizes, equal to a full sort.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf } from '../../../src/engine/backend/tf';
import { prepareGallery, searchExact } from '../../../src/engine/retrieval/exactSearch';
import { normalise, seeded, tiedVectors } from './reference';

before(async () => {
  await activateBackend('wasm');
});

/** Full sort of every query's similarities to the whole gallery (float64), ties by lower index. */
function referenceSearch(
  queries: Float32Array,
  nq: number,
  gallery: Float32Array,
  ng: number,
  d: number,
  k: number,
  exclude?: number[],
) {
  const q = normalise(queries, nq, d);
  const g = normalise(gallery, ng, d);
  return Array.from({ length: nq }, (_, i) => {
    const sims = Array.from({ length: ng }, (_, j) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += q[i * d + c]! * g[j * d + c]!;
      return [s, j] as [number, number];
    }).filter(([, j]) => j !== exclude?.[i]);
    return sims.sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
  });
}

test('chunked search equals the one-chunk search and the full sort, for chunk sizes that do not divide N', () => {
  const rand = seeded(21);
  const d = 32;
  const ng = 250;
  const nq = 41;
  const gallery = tiedVectors(ng, d, rand);
  // Scaled copies: normalisation must make the scale irrelevant.
  const queries = tiedVectors(nq, d, rand).map((v, i) => v * (1 + (Math.floor(i / d) % 3)));
  const k = 9;
  const want = referenceSearch(queries, nq, gallery, ng, d, k);
  const whole = searchExact({ data: queries, n: nq, d }, prepareGallery({ data: gallery, n: ng, d }, ng), {
    k,
    queryChunk: nq,
  });
  for (const [galleryChunk, queryChunk] of [
    [7, 3],
    [64, 10],
    [249, 40],
    [ng, 1],
  ] as const) {
    const got = searchExact({ data: queries, n: nq, d }, prepareGallery({ data: gallery, n: ng, d }, galleryChunk), {
      k,
      queryChunk,
    });
    assert.deepEqual(got.indices, whole.indices, `chunks ${galleryChunk}/${queryChunk}`);
    assert.deepEqual(got.scores, whole.scores, `chunks ${galleryChunk}/${queryChunk}`);
  }
  for (let i = 0; i < nq; i++) {
    assert.deepEqual(
      Array.from(whole.indices.subarray(i * k, (i + 1) * k)),
      want[i]!.map(([, j]) => j),
      `query ${i}`,
    );
    assert.deepEqual(
      Array.from(whole.scores.subarray(i * k, (i + 1) * k)),
      want[i]!.map(([s]) => s),
      `query ${i}`,
    );
  }
  assert.ok(Array.from(whole.counts).every((c) => c === k));
});

test("excluding each query's own row, k beyond the gallery, no tensors leaked", () => {
  const rand = seeded(4);
  const d = 16;
  const n = 30;
  const data = tiedVectors(n, d, rand);
  const before = tf.memory().numTensors;
  const self = Int32Array.from({ length: n }, (_, i) => i);
  const got = searchExact({ data, n, d }, prepareGallery({ data, n, d }, 8), { k: 100, exclude: self, queryChunk: 7 });
  assert.equal(got.k, n - 1, 'k is clipped to the gallery a query sees');
  const want = referenceSearch(data, n, data, n, d, n - 1, Array.from(self));
  for (let i = 0; i < n; i++) {
    assert.deepEqual(
      Array.from(got.indices.subarray(i * got.k, (i + 1) * got.k)),
      want[i]!.map(([, j]) => j),
    );
    assert.ok(!Array.from(got.indices.subarray(i * got.k, (i + 1) * got.k)).includes(i), 'a query never finds itself');
  }
  assert.equal(tf.memory().numTensors, before);
});

test('bad input: dimensions, k, chunk sizes, NaN', () => {
  const g = prepareGallery({ data: new Float32Array(8).fill(1), n: 2, d: 4 });
  assert.throws(
    () => searchExact({ data: new Float32Array(3), n: 1, d: 3 }, g, { k: 1 }),
    /3 dimensions, the gallery 4/,
  );
  assert.throws(
    () => searchExact({ data: new Float32Array(4), n: 1, d: 4 }, g, { k: 0 }),
    /k must be a positive integer/,
  );
  assert.throws(
    () => searchExact({ data: new Float32Array(4), n: 1, d: 4 }, g, { k: 1, queryChunk: 0 }),
    /query chunk size/,
  );
  assert.throws(() => prepareGallery({ data: Float32Array.from([1, NaN]), n: 1, d: 2 }), /row 0 column 1 is NaN/);
  assert.throws(() => prepareGallery({ data: new Float32Array(5), n: 2, d: 2 }), /expected 2 x 2 = 4 values, got 5/);
});
