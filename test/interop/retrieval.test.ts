/**
 * Retrieval numbers and indexes against the libraries users compare with:
 * `vembed benchmark sop`'s Recall@K and MAP@R against pytorch-metric-learning's
 * AccuracyCalculator on the same embeddings, and a `vembed index build`
 * folder searched by FAISS (IndexFlatIP) against `vembed search`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/engine/util/rng';
import { runPython } from '../helpers/python';
import { tempDir, writeTinyModel } from '../engine/run/fixtures';
import { assertBuilt, PY, vembed } from './helpers';

let work: string;
let sop: string;
/** SOP-style list rows: products with 1 to 5 images (one-image products are no query, but are in the gallery). */
const products = [3, 1, 4, 2, 5, 2, 1, 3, 2, 4, 2, 3, 1, 2, 3];

before(async () => {
  assertBuilt();
  work = tempDir('interop-retrieval');
  await writeTinyModel(path.join(work, 'model'));
  sop = path.join(work, 'sop');
  // Each product: a random pattern; its images are noisy, shifted crops of it, so that neighbours are imperfect and
  // ranks vary.
  const rng = new Rng(11);
  const lines = ['image_id class_id super_class_id path'];
  let id = 1;
  for (let p = 0; p < products.length; p++) {
    const base = Buffer.alloc(40 * 40 * 3);
    for (let i = 0; i < base.length; i++) base[i] = rng.int(256);
    for (let v = 0; v < products[p]!; v++) {
      const noisy = Buffer.from(base);
      for (let i = 0; i < noisy.length; i++) noisy[i] = Math.max(0, Math.min(255, noisy[i]! + rng.int(121) - 60));
      const rel = `sup${p % 3}_final/${p}_${v}.png`;
      fs.mkdirSync(path.join(sop, path.dirname(rel)), { recursive: true });
      await sharp(noisy, { raw: { width: 40, height: 40, channels: 3 } })
        .extract({ left: v * 2, top: v, width: 32, height: 32 })
        .png()
        .toFile(path.join(sop, rel));
      lines.push(`${id++} ${1000 + p} ${p % 3} ${rel}`);
    }
  }
  fs.writeFileSync(path.join(sop, 'Ebay_test.txt'), lines.join('\n') + '\n');
});
after(() => (process.env.KEEP_INTEROP ? console.log(work) : fs.rmSync(work, { recursive: true, force: true })));

test("benchmark sop's Recall@1 and MAP@R equal pytorch-metric-learning's precision_at_1 and mean_average_precision_at_r; Recall@10/100 a numpy count", () => {
  const out = path.join(work, 'bench');
  vembed(['benchmark', 'sop', '--model_path', 'model', '--sop_root', 'sop', '--output_dir', out], work);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'sop_report.json'), 'utf8')) as Record<string, unknown>;
  const metrics = (report.metrics ?? report) as Record<string, number>;
  const pml = JSON.parse(
    runPython([
      path.join(PY, 'sop_metrics.py'),
      path.join(out, 'embeddings.npy'),
      path.join(out, 'labels.npy'),
      '1',
      '10',
      '100',
    ]).trim(),
  ) as Record<string, number>;
  assert.equal(
    pml.queries,
    products.filter((n) => n > 1).reduce((a, n) => a + n, 0),
    'one-image products are not queries',
  );
  // Ratios of small counts: equal up to float rounding.
  const near = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) < 1e-6, `${what}: vembed ${a}, reference ${b}`);
  near(metrics['recall@1']!, pml.precision_at_1!, 'Recall@1 vs PML precision_at_1');
  near(metrics['map@r']!, pml.map_at_r!, 'MAP@R vs PML mean_average_precision_at_r');
  near(metrics['recall@10']!, pml['recall@10']!, 'Recall@10');
  near(metrics['recall@100']!, pml['recall@100']!, 'Recall@100');
  // A random model on noisy crops: neither perfect nor nothing, so the comparison means something.
  assert.ok(
    pml.precision_at_1! > 0 && pml.precision_at_1! < 1 && pml.map_at_r! < pml.precision_at_1!,
    JSON.stringify(pml),
  );
});

test('an index from `vembed index build` loads into FAISS IndexFlatIP; FAISS returns the same neighbours and scores as `vembed search`', () => {
  const index = path.join(work, 'index');
  vembed(['index', 'build', '--model', 'model', '--images', path.join(sop, 'Ebay_test.txt'), '--out', index], work);
  const metadata = fs
    .readFileSync(path.join(index, 'metadata.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const k = 8;
  for (const query of ['sup0_final/0_1.png', 'sup1_final/4_3.png']) {
    const resultsFile = path.join(work, `results-${path.basename(query)}.json`);
    vembed(
      ['search', '--index', index, '--image', path.join(sop, query), '--k', String(k), '--out', resultsFile],
      work,
    );
    // The results file: [{rank, score, path, label}], best first.
    const list = JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Array<{
      rank: number;
      score: number;
      path: string;
    }>;
    assert.equal(list.length, k);
    // FAISS gets the query's embedding from vembed embed with the same model.
    const q = path.join(work, 'q.npy');
    vembed(['embed', '--model', 'model', '--out', q, path.join(sop, query)], work);
    const faiss = JSON.parse(runPython([path.join(PY, 'faiss_search.py'), index, q, String(k)]).trim()) as {
      rows: number[][];
      scores: number[][];
      ntotal: number;
    };
    assert.equal(faiss.ntotal, metadata.length);
    const rowOf = (r: { path: string }): number => {
      const i = metadata.findIndex((m) => path.resolve(sop, String(m.path)) === path.resolve(r.path));
      assert.ok(i >= 0, `result ${r.path} not in metadata.jsonl`);
      return i;
    };
    assert.deepEqual(list.map(rowOf), faiss.rows[0], `${query}: same neighbours in the same order`);
    const worst = Math.max(...list.map((r, i) => Math.abs(r.score - faiss.scores[0]![i]!)));
    assert.ok(worst < 1e-5, `${query}: scores differ by ${worst}`);
    assert.ok(Math.abs(faiss.scores[0]![0]! - 1) < 1e-5, 'the query itself is in the index and comes first');
  }
});
