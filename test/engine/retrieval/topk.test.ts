// Bounded top-k selection against a full sort, with many ties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ranksBefore, selectBest, TopKTable } from '../../../src/engine/retrieval/topk';
import { seeded } from './reference';

/** Full sort by (score desc, id asc): the reference. */
function best(scores: number[], ids: number[], k: number): Array<[number, number]> {
  return scores
    .map((s, i) => [s, ids[i]!] as [number, number])
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k);
}

test('ranking rule: higher score first, equal scores by lower index', () => {
  assert.ok(ranksBefore(0.5, 9, 0.4, 1));
  assert.ok(ranksBefore(0.5, 1, 0.5, 2));
  assert.ok(!ranksBefore(0.5, 2, 0.5, 1));
  assert.ok(!ranksBefore(0.5, 3, 0.5, 3));
});

test('selectBest puts the k best first, for every k, with ties', () => {
  const rand = seeded(3);
  for (let trial = 0; trial < 50; trial++) {
    const len = 1 + Math.floor(rand() * 60);
    // Few distinct values: lots of ties.
    const scores = Float32Array.from({ length: len }, () => Math.floor(rand() * 5) / 4);
    const ids = Int32Array.from({ length: len }, (_, i) => i).sort(() => rand() - 0.5);
    for (const k of [1, 2, Math.ceil(len / 2), len]) {
      const s = scores.slice();
      const d = ids.slice();
      selectBest(s, d, 0, len, k);
      const got = Array.from({ length: Math.min(k, len) }, (_, i) => [s[i]!, d[i]!] as [number, number]).sort(
        (a, b) => b[0] - a[0] || a[1] - b[1],
      );
      assert.deepEqual(got, best(Array.from(scores), Array.from(ids), k));
    }
  }
});

test('TopKTable streams candidates in any order and equals the full sort; merge of two tables too', () => {
  const rand = seeded(11);
  const queries = 7;
  const n = 500;
  for (const k of [1, 3, 20]) {
    const scores = Array.from({ length: queries }, () => Array.from({ length: n }, () => Math.floor(rand() * 40) / 16));
    const one = new TopKTable(queries, k);
    const left = new TopKTable(queries, k);
    const right = new TopKTable(queries, k);
    const order = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
    for (let q = 0; q < queries; q++) {
      for (const g of order) {
        one.offer(q, scores[q]![g]!, g);
        (g % 3 === 0 ? left : right).offer(q, scores[q]![g]!, g);
      }
    }
    left.merge(right);
    for (const table of [one, left]) {
      const r = table.result();
      for (let q = 0; q < queries; q++) {
        const want = best(
          scores[q]!,
          Array.from({ length: n }, (_, i) => i),
          k,
        );
        const got = Array.from(
          { length: k },
          (_, j) => [r.scores[q * k + j]!, r.indices[q * k + j]!] as [number, number],
        );
        assert.deepEqual(
          got,
          want.map(([s, i]) => [Math.fround(s), i]),
        );
        assert.equal(r.counts[q], k);
      }
    }
  }
});

test('TopKTable with fewer candidates than k pads with -1 and NaN', () => {
  const t = new TopKTable(2, 4);
  t.offer(0, 0.5, 3);
  t.offer(0, 0.7, 1);
  const r = t.result();
  assert.deepEqual(Array.from(r.indices), [1, 3, -1, -1, -1, -1, -1, -1]);
  assert.deepEqual(Array.from(r.counts), [2, 0]);
  assert.ok(Number.isNaN(r.scores[2]!));
  assert.throws(() => new TopKTable(1, 0), /k >= 1/);
});
