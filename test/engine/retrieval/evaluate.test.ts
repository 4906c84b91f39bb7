// The SOP protocol (Recall@K, MAP@R, neighbours, first correct rank) against
// hand-computed answers, a NumPy reference and a plain full-sort reference.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { readNpy, toInt32 } from '../../../src/shared/artifacts/npy';
import { evaluateRetrieval, type RetrievalEvaluation } from '../../../src/engine/retrieval/evaluate';
import { planBlocks } from '../../../src/engine/retrieval/blockPlan';
import { referenceProtocol, seeded, tiedVectors } from './reference';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'retrieval');

before(async () => {
  await activateBackend('wasm');
});

// Unit vectors whose similarities are exact in float32: 1, 0.5 or 0.
const E1 = [1, 0, 0, 0];
const E2 = [0, 1, 0, 0];
const E3 = [0, 0, 1, 0];
const H = [0.5, 0.5, 0.5, 0.5];

/**
 * Images 0..5: e1 (A), e1 (B), e1 (A), e2 (B), h (C, alone in its class), e3 (A).
 * Worked by hand (ties: lower index first):
 *   query 0: 1, 2, 4, 3, 5 -> first correct 2, AP@R (R=2) = (0 + 1/2) / 2 = 0.25
 *   query 1: 0, 2, 4, 3, 5 -> first correct 4, AP@R (R=1) = 0
 *   query 2: 0, 1, 4, 3, 5 -> first correct 1, AP@R (R=2) = (1 + 0) / 2 = 0.5
 *   query 3: 4, 0, 1, 2, 5 -> first correct 3, AP@R (R=1) = 0
 *   query 4: class C has no other image: not a valid query
 *   query 5: 4, 0, 1, 2, 3 -> first correct 2, AP@R (R=2) = (0 + 1/2) / 2 = 0.25
 */
const HAND = {
  data: Float32Array.from([E1, E1, E1, E2, H, E3].flat()),
  labels: [7, 8, 7, 8, 9, 7],
};

test('hand-built case with ties, a single-image class and K beyond the gallery', async () => {
  for (const threads of [1, 2]) {
    const ev = await evaluateRetrieval({ data: HAND.data, n: 6, d: 4 }, HAND.labels, {
      recallKs: [1, 2, 3, 4, 10],
      neighbours: 3,
      blockSize: 4,
      threads,
    });
    assert.equal(ev.threads, threads, ev.threadNote);
    assert.deepEqual(ev.metrics, {
      'recall@1': 0.2,
      'recall@2': 0.6,
      'recall@3': 0.8,
      'recall@4': 1,
      'recall@10': 1,
      'map@r': 0.2,
    });
    assert.equal(ev.numImages, 6);
    assert.equal(ev.numValidQueries, 5);
    assert.equal(ev.numClasses, 3);
    assert.equal(ev.gallerySize, 5);
    assert.deepEqual(ev.clippedKs, [10]);
    assert.deepEqual(Array.from(ev.outcomes.firstCorrectRank), [2, 4, 1, 3, -1, 2]);
    assert.deepEqual(Array.from(ev.outcomes.apAtR).slice(0, 4), [0.25, 0, 0.5, 0]);
    assert.ok(Number.isNaN(ev.outcomes.apAtR[4]!));
    assert.equal(ev.neighbours.k, 3);
    assert.deepEqual(Array.from(ev.neighbours.indices), [1, 2, 4, 0, 2, 4, 0, 1, 4, 4, 0, 1, 0, 1, 2, 4, 0, 1]);
    assert.deepEqual(Array.from(ev.neighbours.scores.subarray(0, 3)), [1, 1, 0.5]);
    assert.deepEqual(Array.from(ev.neighbourSameClass.subarray(0, 6)), [0, 1, 0, 0, 0, 0]);
  }
});

test('no valid query, too few images, bad shapes: clear errors', async () => {
  await assert.rejects(
    evaluateRetrieval({ data: HAND.data, n: 6, d: 4 }, [1, 2, 3, 4, 5, 6]),
    /no valid query among 6 images: every class has a single image/,
  );
  await assert.rejects(evaluateRetrieval({ data: HAND.data.subarray(0, 4), n: 1, d: 4 }, [1]), /at least 2 images/);
  await assert.rejects(evaluateRetrieval({ data: HAND.data, n: 6, d: 4 }, [1, 1]), /2 labels for 6 embeddings/);
  const bad = HAND.data.slice();
  bad[9] = NaN;
  await assert.rejects(evaluateRetrieval({ data: bad, n: 6, d: 4 }, HAND.labels), /row 2 column 1 is NaN/);
  await assert.rejects(
    evaluateRetrieval({ data: HAND.data, n: 6, d: 4 }, HAND.labels, { recallKs: [5], rankCap: 2 }),
    /rankCap 2 is below the largest K \(5\)/,
  );
});

test('random embeddings: equal to the NumPy reference (scripts/reference/retrieval_reference.py)', async () => {
  const emb = readNpy(path.join(FIXTURES, 'random_embeddings.npy'));
  const labels = toInt32(readNpy(path.join(FIXTURES, 'random_labels.npy')));
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'random_reference.json'), 'utf8')) as {
    recall_ks: number[];
    metrics: Record<string, number>;
    num_valid_queries: number;
    first_correct_rank: number[];
    ap_at_r: Array<number | null>;
    neighbours: number[][];
  };
  const [n, d] = emb.shape as [number, number];
  const ev = await evaluateRetrieval({ data: emb.data as Float32Array, n, d }, labels, {
    recallKs: ref.recall_ks,
    neighbours: 5,
    rankCap: n,
    blockSize: 13,
  });
  // Metrics are ratios of the same integers: equal up to float64 rounding.
  for (const [k, v] of Object.entries(ref.metrics))
    assert.ok(Math.abs(ev.metrics[k]! - v) < 1e-12, `${k}: ${ev.metrics[k]} vs ${v}`);
  assert.equal(ev.numValidQueries, ref.num_valid_queries);
  assert.deepEqual(Array.from(ev.outcomes.firstCorrectRank), ref.first_correct_rank);
  ref.ap_at_r.forEach((a, q) => {
    if (a === null) assert.ok(Number.isNaN(ev.outcomes.apAtR[q]!));
    else assert.ok(Math.abs(ev.outcomes.apAtR[q]! - a) < 1e-12, `AP@R of ${q}`);
  });
  for (let q = 0; q < n; q++)
    assert.deepEqual(
      Array.from(ev.neighbours.indices.subarray(q * 5, q * 5 + 5)),
      ref.neighbours[q],
      `neighbours of ${q}`,
    );
});

function assertMatchesReference(
  ev: RetrievalEvaluation,
  data: Float32Array,
  n: number,
  d: number,
  labels: number[],
  ks: number[],
  k: number,
  what: string,
): void {
  const ref = referenceProtocol(data, n, d, labels, ks);
  for (const K of ks) assert.equal(ev.metrics[`recall@${K}`], ref.recall[K], `${what}: recall@${K}`);
  assert.ok(Math.abs(ev.metrics['map@r']! - ref.mapAtR) < 1e-12, `${what}: map@r`);
  assert.equal(ev.numValidQueries, ref.numValid);
  for (let q = 0; q < n; q++) {
    const members = labels.filter((l, g) => g !== q && l === labels[q]).length;
    const cap = Math.max(ev.rankCap, members);
    const want = ref.firstCorrectRank[q]! > cap ? 0 : ref.firstCorrectRank[q];
    assert.equal(ev.outcomes.firstCorrectRank[q], want, `${what}: first correct rank of ${q}`);
    if (!Number.isNaN(ref.apAtR[q]!))
      assert.ok(Math.abs(ev.outcomes.apAtR[q]! - ref.apAtR[q]!) < 1e-12, `${what}: AP@R of ${q}`);
    assert.deepEqual(
      Array.from(ev.neighbours.indices.subarray(q * k, (q + 1) * k)),
      ref.rankings[q]!.slice(0, k),
      `${what}: neighbours of ${q}`,
    );
    assert.deepEqual(
      Array.from(ev.neighbours.scores.subarray(q * k, (q + 1) * k)),
      ref.rankings[q]!.slice(0, k).map((g) => ref.sims[q]![g]),
      `${what}: scores of ${q}`,
    );
  }
}

test('many exact ties: same answer for block sizes that do not divide N, one block, and two threads', async () => {
  const rand = seeded(5);
  const n = 301;
  const d = 32;
  const data = tiedVectors(n, d, rand);
  // Classes of 1 to 8 images, ids in no particular order.
  const labels = Array.from({ length: n }, () => 1000 - Math.floor(rand() * 60) * 7);
  const ks = [1, 2, 5, 10, 50];
  for (const [blockSize, threads] of [
    [37, 1],
    [64, 1],
    [n, 1],
    [50, 2],
  ] as const) {
    const ev = await evaluateRetrieval({ data, n, d }, labels, { recallKs: ks, neighbours: 6, blockSize, threads });
    assert.equal(ev.threads, threads);
    assertMatchesReference(ev, data, n, d, labels, ks, 6, `block ${blockSize}, ${threads} thread(s)`);
  }
});

test('classes larger than a block, and a rank cap that cuts ranks short', async () => {
  const rand = seeded(9);
  const n = 240;
  const d = 16;
  const data = tiedVectors(n, d, rand);
  const labels = Array.from({ length: n }, (_, i) => (i < 90 ? 1 : i < 100 ? 2 : 3 + Math.floor(rand() * 70)));
  const plan = planBlocks(labels, 32);
  assert.ok(
    plan.pass1.some((t) => t.mode === 'extract' && t.i !== t.j),
    'the big class spans blocks',
  );
  const ks = [1, 3];
  for (const threads of [1, 2]) {
    const ev = await evaluateRetrieval({ data, n, d }, labels, { recallKs: ks, neighbours: 4, blockSize: 32, threads });
    assertMatchesReference(ev, data, n, d, labels, ks, 4, `big class, ${threads} thread(s)`);
    assert.ok(
      ev.outcomes.firstCorrectRank.some((r) => r === 0),
      'some first correct ranks are beyond the cap',
    );
  }
});

test('block plan: class-aligned cuts, every block pair once', () => {
  const labels = [5, 5, 5, 1, 1, 9, 9, 9, 9, 2];
  const plan = planBlocks(labels, 4);
  // Class order: 1 1 | 2 | 5 5 5 | 9 9 9 9 -> cuts at class boundaries no further than 4 apart.
  assert.deepEqual(Array.from(plan.order), [3, 4, 9, 0, 1, 2, 5, 6, 7, 8]);
  assert.deepEqual(Array.from(plan.blockStart), [0, 3, 6, 10]);
  assert.ok(plan.pass1.every((t) => t.mode === 'extract+count' && t.i === t.j));
  assert.deepEqual(
    plan.pass2.map((t) => [t.i, t.j]),
    [
      [0, 1],
      [0, 2],
      [1, 2],
    ],
  );
});

test('an aborted signal stops the search, worker threads included', async () => {
  const rand = seeded(2);
  const n = 200;
  const data = tiedVectors(n, 16, rand);
  const labels = Array.from({ length: n }, (_, i) => i % 40);
  for (const threads of [1, 2]) {
    const controller = new AbortController();
    let calls = 0;
    const run = evaluateRetrieval({ data, n, d: 16 }, labels, {
      blockSize: 20,
      threads,
      signal: controller.signal,
      onProgress: () => {
        if (++calls === 3) controller.abort();
      },
    });
    await assert.rejects(run, /search aborted/);
    assert.ok(calls >= 3 && calls < 20, `stopped soon after the abort (${calls} blocks)`);
  }
});
