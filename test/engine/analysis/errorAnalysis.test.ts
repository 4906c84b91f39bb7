// Error analysis of two benchmarks: every number (Recall@1 per super class, improved and regressed queries, confused
// pairs) equals a reference computed by NumPy from the neighbours files alone (error_analysis_reference.py), and
// `vembed benchmark compare` prints the sections and writes error_analysis.json.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { runSopBenchmark, type BenchmarkImage } from '../../../src/engine/retrieval/sopBenchmark';
import { analyseBenchmarks } from '../../../src/engine/analysis/errorReport';
import { benchmarkCompareCommand } from '../../../src/engine/cli/commands/benchmarkCompare';
import { StreamReporter } from '../../../src/engine/cli/reporter';
import { analyseErrors } from '../../../src/shared/analysis/errorAnalysis';
import { Rng } from '../../../src/engine/util/rng';
import { runPython } from '../../helpers/python';

const SUPERS = ['bicycle', 'chair', 'lamp', 'mug', 'sofa', 'toaster'];
const D = 12;
let dir: string;
let beforeDir: string;
let afterDir: string;
let images: BenchmarkImage[];

/** 100 products of 1 to 7 images (singletons are not valid queries); the "after" model pulls each product together. */
async function benchmark(out: string, spread: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const centre = new Map<number, number[]>();
  const centreRng = new Rng(99);
  const data = new Float32Array(images.length * D);
  images.forEach((im, i) => {
    if (!centre.has(im.label))
      centre.set(
        im.label,
        Array.from({ length: D }, () => centreRng.next() * 2 - 1),
      );
    const c = centre.get(im.label)!;
    for (let j = 0; j < D; j++) data[i * D + j] = c[j]! + (rng.next() * 2 - 1) * spread;
  });
  await runSopBenchmark({
    images,
    imageRoot: dir,
    embedder: async () => data,
    outDir: out,
    run: { model: out, backend: 'wasm' },
    // A rank cap of 10, so that some first correct ranks lie beyond it.
    evaluate: { recallKs: [1, 10], neighbours: 5 },
  });
}

before(async () => {
  await activateBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-errors-'));
  const rng = new Rng(5);
  images = [];
  for (let p = 0; p < 100; p++) {
    const size = 1 + rng.int(7);
    const sc = SUPERS[p % SUPERS.length]!;
    for (let v = 0; v < size; v++)
      // Some records name their super class, others have it only in their folder (as SOP's paths do).
      images.push({ path: `${sc}_final/${p}_${v}.jpg`, label: 1000 + p, ...(p % 4 === 0 ? { superClass: sc } : {}) });
  }
  beforeDir = path.join(dir, 'zero-shot');
  afterDir = path.join(dir, 'fine-tuned');
  await benchmark(beforeDir, 1.6, 1);
  await benchmark(afterDir, 1.0, 2);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the analysis equals the NumPy reference computed from the neighbours files', () => {
  const top = 15;
  const ref = JSON.parse(
    runPython([path.join(__dirname, 'error_analysis_reference.py'), beforeDir, afterDir, String(top)]),
  ) as {
    num_queries: number;
    recall_at_1: [number, number];
    super_classes: [string, number, number, number][];
    improved: [number, number | null, number | null][];
    regressed: [number, number | null, number | null][];
    pairs: [number, number, number, number, [number, number]][];
  };
  const { analysis: a } = analyseBenchmarks(beforeDir, afterDir, { topQueries: top, topPairs: top });
  assert.equal(a.numQueries, ref.num_queries);
  assert.ok(a.numQueries < images.length, 'singleton products are left out');
  assert.ok(Math.abs(a.recallAt1.before - ref.recall_at_1[0]) < 1e-12);
  assert.ok(Math.abs(a.recallAt1.after - ref.recall_at_1[1]) < 1e-12);
  assert.ok(a.recallAt1.after > a.recallAt1.before, 'the tighter model is better');
  assert.deepEqual(
    a.superClasses.map((s) => [s.superClass, s.queries]),
    ref.super_classes.map((s) => [s[0], s[1]]),
  );
  a.superClasses.forEach((s, i) => {
    assert.ok(Math.abs(s.before - ref.super_classes[i]![2]) < 1e-12, s.superClass);
    assert.ok(Math.abs(s.after - ref.super_classes[i]![3]) < 1e-12, s.superClass);
  });
  assert.deepEqual(
    a.improved.map((q) => [q.image, q.before, q.after]),
    ref.improved,
  );
  assert.deepEqual(
    a.regressed.map((q) => [q.image, q.before, q.after]),
    ref.regressed,
  );
  assert.ok(
    a.improved.some((q) => q.before === null),
    'a query from beyond the rank cap is among the improved',
  );
  assert.ok(a.regressed.length > 0, 'the fixture has regressions too');
  assert.deepEqual(
    a.confusedPairs.map((p) => [p.a, p.b, p.count, p.countBefore, [p.example.query, p.example.neighbour]]),
    ref.pairs,
  );
  assert.ok(a.confusedPairs.length > 0);
});

test('two benchmarks of different images are refused with the reason', () => {
  const t = { firstCorrectRank: [1, 2], indices: [1, 0], k: 1, rankCap: 10 };
  assert.throws(
    () => analyseErrors(t, { ...t, firstCorrectRank: [1, 2, 3] }, [{ label: 1 }, { label: 1 }]),
    /different image sets/,
  );
});

test('vembed benchmark compare: the sections after the metric table, error_analysis.json and Markdown', async () => {
  let out = '';
  const reporter = new StreamReporter(
    false,
    (s) => (out += s),
    () => {},
  );
  const md = path.join(dir, 'compare.md');
  const code = await benchmarkCompareCommand.run({
    args: {
      options: { markdown: md, top: 3 },
      positionals: [path.join(beforeDir, 'sop_report.json'), path.join(afterDir, 'sop_report.json')],
    },
    reporter,
    signal: new AbortController().signal,
  });
  assert.equal(code, 0);
  const a = analyseBenchmarks(beforeDir, afterDir, { topQueries: 3, topPairs: 3 }).analysis;
  assert.match(out, /Recall@1 per super class \(\d+ queries valid in both\)/);
  const bicycle = a.superClasses.find((s) => s.superClass === 'bicycle')!;
  assert.match(
    out,
    new RegExp(
      `bicycle +${bicycle.queries} +${(100 * bicycle.before).toFixed(2)}% +${(100 * bicycle.after).toFixed(2)}%`,
    ),
  );
  assert.match(out, /Improved most \(first correct rank before -> after/);
  const first = a.improved[0]!;
  assert.match(out, new RegExp(`${first.before ?? '>10'} -> ${first.after} +\\[${first.image}\\]`));
  assert.match(out, /Regressed most/);
  assert.match(out, /Product pairs most often confused/);
  const p = a.confusedPairs[0]!;
  assert.match(out, new RegExp(`${p.a} <-> ${p.b}: ${p.count} after, ${p.countBefore} before`));
  const json = JSON.parse(fs.readFileSync(path.join(afterDir, 'error_analysis.json'), 'utf8'));
  assert.equal(json.format, 'vembed-error-analysis');
  assert.equal(json.num_queries, a.numQueries);
  assert.equal(json.improved.length, 3);
  assert.equal(json.improved[0].image, first.image);
  assert.match(json.improved[0].path, /_final\/\d+_\d\.jpg$/);
  assert.equal(json.confused_pairs[0].count, p.count);
  const markdown = fs.readFileSync(md, 'utf8');
  assert.match(markdown, /## Recall@1 per super class/);
  assert.match(markdown, /## Product pairs most often confused/);
});

test('compare without neighbours beside the reports: the metric table only, and why', async () => {
  const lone = path.join(dir, 'lone');
  fs.mkdirSync(lone);
  fs.copyFileSync(path.join(beforeDir, 'sop_report.json'), path.join(lone, 'sop_report.json'));
  let out = '';
  const reporter = new StreamReporter(
    false,
    (s) => (out += s),
    () => {},
  );
  await benchmarkCompareCommand.run({
    args: { options: {}, positionals: [path.join(lone, 'sop_report.json'), path.join(afterDir, 'sop_report.json')] },
    reporter,
    signal: new AbortController().signal,
  });
  assert.match(out, /Recall@1 +\d/);
  assert.match(out, /no error analysis: .*lone has no neighbours\.json/);
  assert.doesNotMatch(out, /per super class/);
});
