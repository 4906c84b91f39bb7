// The m_per_product batch sampler: composition, determinism, epoch coverage, resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { mPerProductOrder, productsOf, type SamplerRecord } from '../../../src/engine/train/batchSampler';
import { batchesFrom, epochOrder } from '../../../src/engine/run/training/batches';
import { defaultConfig, type TrainConfig } from '../../../src/shared/config/schema';
import { parsePairFile, type PairRecord } from '../../../src/engine/data/pairDataset';

const SAMPLE = path.resolve(__dirname, '../../../data/sample-sop');

/** supers x products x pairs, labels `p<k>`, super labels `s<j>`. */
function synthetic(supers: number, products: number, pairs: number): SamplerRecord[] {
  const out: SamplerRecord[] = [];
  for (let s = 0; s < supers; s++)
    for (let p = 0; p < products; p++)
      for (let i = 0; i < pairs; i++) out.push({ label: `p${s * products + p}`, superLabel: `s${s}` });
  // Interleave so that the file order says nothing about the products.
  return out
    .map((r, i) => ({ r, k: (i * 7919) % out.length }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.r);
}

function batchesOf(order: readonly number[], size: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += size) out.push(order.slice(i, i + size));
  return out;
}

const count = <T>(xs: readonly T[]) => {
  const m = new Map<T, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
};

test('exact composition when the numbers divide: batch_size/m products with m pairs each, one super label', () => {
  const recs = synthetic(3, 8, 8); // 3 super labels x 8 products x 8 pairs = 192 pairs
  const opts = { batchSize: 16, imagesPerProduct: 4, groupBySuperLabel: true, seed: 42 };
  for (const epoch of [0, 1, 2]) {
    const batches = batchesOf(mPerProductOrder(recs, opts, epoch), 16);
    assert.equal(batches.length, 12);
    for (const b of batches) {
      const perProduct = count(b.map((i) => recs[i]!.label));
      assert.deepEqual([...perProduct.values()], [4, 4, 4, 4], 'four products, four pairs each');
      assert.equal(new Set(b.map((i) => recs[i]!.superLabel)).size, 1, 'one super label per batch');
    }
  }
});

test('every pair at most once per epoch, floor(N / batch_size) batches; deterministic per seed and epoch', () => {
  const recs = synthetic(4, 7, 5); // 140 pairs, groups of 35: leftovers pool into mixed batches
  const opts = { batchSize: 32, imagesPerProduct: 4, groupBySuperLabel: true, seed: 7 };
  const order = mPerProductOrder(recs, opts, 0);
  assert.equal(order.length, Math.floor(140 / 32) * 32);
  assert.equal(new Set(order).size, order.length, 'no pair twice');
  assert.ok(order.every((i) => Number.isInteger(i) && i >= 0 && i < recs.length));
  assert.deepEqual(mPerProductOrder(recs, opts, 0), order, 'same seed and epoch, same order');
  assert.notDeepEqual(mPerProductOrder(recs, opts, 1), order, 'another epoch, another order');
  assert.notDeepEqual(mPerProductOrder(recs, { ...opts, seed: 8 }, 0), order, 'another seed, another order');
  // Without a remainder every pair is used exactly once.
  const even = synthetic(2, 4, 8);
  assert.deepEqual(
    [...mPerProductOrder(even, { ...opts, batchSize: 16 }, 3)].sort((a, b) => a - b),
    even.map((_, i) => i),
  );
});

test('a product with more than m pairs is spread over batches, m at a time; without labels each record is its own product', () => {
  // 5 products of 12 pairs: chunks of 4 go one per product per round, so no batch holds 8 of a product.
  const recs: SamplerRecord[] = Array.from({ length: 60 }, (_, i) => ({ label: i % 5, superLabel: null }));
  const order = mPerProductOrder(recs, { batchSize: 16, imagesPerProduct: 4, groupBySuperLabel: true, seed: 1 }, 0);
  assert.equal(order.length, 48);
  for (const b of batchesOf(order, 16)) {
    for (const [label, n] of count(b.map((i) => recs[i]!.label))) assert.equal(n, 4, `product ${label}: ${n} pairs`);
  }
  const unlabelled = productsOf(
    [...recs, ...Array.from({ length: 20 }, () => ({ label: null, superLabel: null }))],
    true,
  );
  assert.equal(unlabelled.members.length, 25, '5 labelled products + 20 unlabelled records');
  assert.equal(unlabelled.groups.length, 1, 'no super labels: one group');
});

test('the sample set (12 super classes x 12 training products x 5 pairs): batches are far more product- and class-pure than random ones', () => {
  const { records } = parsePairFile(path.join(SAMPLE, 'train.jsonl'), {
    image_root: SAMPLE,
    allow_absolute_paths: false,
    column_mapping: null,
  });
  assert.ok(
    records.every((r) => r.superLabel !== null),
    'prepare-sop writes super_label',
  );
  const purity = (order: number[]) => {
    const batches = batchesOf(order, 32);
    const products = batches.map((b) => new Set(b.map((i) => records[i]!.label)).size);
    const oneSuper = batches.filter((b) => new Set(b.map((i) => records[i]!.superLabel)).size === 1).length;
    return { meanProducts: products.reduce((a, x) => a + x, 0) / batches.length, oneSuper, batches: batches.length };
  };
  const sampled = purity(
    mPerProductOrder(records, { batchSize: 32, imagesPerProduct: 4, groupBySuperLabel: true, seed: 42 }, 0),
  );
  const random = purity(epochOrder(records.length, 42, 0).slice(0, 22 * 32));
  assert.equal(sampled.batches, 22);
  // Each super class's 60 pairs make one whole batch (8 products x 4); the rest pools into mixed batches.
  assert.ok(sampled.oneSuper >= 11, `${sampled.oneSuper} single-class batches`);
  assert.equal(random.oneSuper, 0);
  assert.ok(sampled.meanProducts < 16, `mean ${sampled.meanProducts} products a batch`);
  assert.ok(random.meanProducts > 25, `random: mean ${random.meanProducts} products a batch`);
});

test('hard-negative neighbours: consecutive products follow the nearest-product lists', () => {
  // 8 products of 4 pairs; the neighbours pair 0-7, 1-6, 2-5, 3-4.
  const recs = Array.from({ length: 32 }, (_, i) => ({ label: i % 8, superLabel: null }));
  const table = productsOf(recs, false);
  const partner = (p: number) => 7 - p;
  const neighbours = new Map(table.members.map((_, p) => [p, [partner(p)]]));
  const opts = { batchSize: 8, imagesPerProduct: 4, groupBySuperLabel: false, seed: 3, neighbours };
  for (const epoch of [0, 1]) {
    for (const b of batchesOf(mPerProductOrder(recs, opts, epoch), 8)) {
      const ps = [...new Set(b.map((i) => table.productOfRecord[i]!))];
      assert.equal(ps.length, 2);
      assert.equal(ps[0], partner(ps[1]!), `batch of products ${ps} pairs each product with its nearest`);
    }
  }
});

test('resume: batches from a saved (epoch, position) are the rest of the uninterrupted run', () => {
  const recs = synthetic(3, 6, 5).map((r, i): PairRecord => ({
    query: `/q${i}.jpg`,
    positive: `/p${i}.jpg`,
    negatives: [],
    label: r.label,
    superLabel: r.superLabel,
    file: 'x.jsonl',
    line: i + 1,
  }));
  const config: TrainConfig = {
    ...defaultConfig(),
    epochs: 3,
    batch_size: 8,
    batch_sampler: 'm_per_product',
    images_per_product: 2,
  };
  const all = [...batchesFrom(recs, config, 0, 0)];
  assert.equal(all.length, 3 * Math.floor(90 / 8));
  const at = 14; // epoch 1, batch 3
  const resumed = [...batchesFrom(recs, config, all[at - 1]!.epoch, all[at - 1]!.endPosition)];
  assert.deepEqual(
    resumed.map((b) => b.indices),
    all.slice(at).map((b) => b.indices),
  );
  // The random sampler is untouched by the new option.
  const random = [...batchesFrom(recs, { ...config, batch_sampler: 'random' }, 0, 0)];
  assert.deepEqual(random[0]!.indices, epochOrder(90, config.seed, 0).slice(0, 8));
});
