// `vembed benchmark compare`: the before/after table, as text and Markdown, and its errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareReports, formatComparisonMarkdown, formatComparisonText } from '../../../src/engine/retrieval/compare';
import { parseReport, readReport, ReportError } from '../../../src/shared/artifacts/reportFile';
import { benchmarkCompareCommand } from '../../../src/engine/cli/commands/benchmarkCompare';
import { StreamReporter } from '../../../src/engine/cli/reporter';
import { UserError } from '../../../src/shared/userError';

const root = path.resolve(__dirname, '../../..');
let dir: string;
let beforeFile: string;
let afterFile: string;

// The brief's DINOv2-base numbers: zero-shot vs fine-tuned.
const BEFORE = {
  'recall@1': 0.5501,
  'recall@10': 0.7109,
  'recall@100': 0.8512,
  'recall@1000': 0.9433,
  'map@r': 0.2001,
  num_images: 60502,
  num_valid_queries: 60502,
  model: 'facebook/dinov2-base',
};
const AFTER = {
  'recall@1': 0.8449,
  'recall@10': 0.94,
  'recall@100': 0.9801,
  'recall@1000': 0.995,
  'map@r': 0.5012,
  num_images: 60502,
  num_valid_queries: 60502,
  model: 'out/checkpoint-epoch-3',
};

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-compare-'));
  beforeFile = path.join(dir, 'before.json');
  afterFile = path.join(dir, 'after.json');
  fs.writeFileSync(beforeFile, JSON.stringify(BEFORE));
  fs.writeFileSync(afterFile, JSON.stringify(AFTER));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('text table: metrics in order, percent with two decimals, signed deltas in points', () => {
  const text = formatComparisonText(compareReports(readReport(beforeFile), readReport(afterFile)));
  const lines = text.split('\n');
  assert.equal(lines[0], `Before: ${beforeFile} (facebook/dinov2-base)`);
  assert.equal(lines[1], `After:  ${afterFile} (out/checkpoint-epoch-3)`);
  assert.deepEqual(lines.slice(3), [
    'Metric       Before   After  Delta (pts)',
    '-----------  ------  ------  -----------',
    'Recall@1     55.01%  84.49%       +29.48',
    'Recall@10    71.09%  94.00%       +22.91',
    'Recall@100   85.12%  98.01%       +12.89',
    'Recall@1000  94.33%  99.50%        +5.17',
    'MAP@R        20.01%  50.12%       +30.11',
  ]);
});

test('Markdown table', () => {
  const md = formatComparisonMarkdown(compareReports(readReport(beforeFile), readReport(afterFile)));
  assert.deepEqual(md.split('\n').slice(0, 7), [
    '| Metric | Before | After | Δ (points) |',
    '|---|---:|---:|---:|',
    '| Recall@1 | 55.01% | 84.49% | +29.48 |',
    '| Recall@10 | 71.09% | 94.00% | +22.91 |',
    '| Recall@100 | 85.12% | 98.01% | +12.89 |',
    '| Recall@1000 | 94.33% | 99.50% | +5.17 |',
    '| MAP@R | 20.01% | 50.12% | +30.11 |',
  ]);
});

test('a report in percent, missing metrics, a drop and different image sets', () => {
  const a = parseReport(JSON.stringify({ 'recall@1': 55.01, 'recall@10': 71.09, num_images: 100 }), 'anchor.json');
  const b = parseReport(JSON.stringify({ 'recall@1': 0.5, 'map@r': 0.25, num_images: 60502 }), 'ours.json');
  const c = compareReports(a, b);
  assert.deepEqual(
    c.rows.map((r) => [r.label, r.before, r.after, r.delta === undefined ? undefined : Number(r.delta.toFixed(6))]),
    [
      ['Recall@1', 55.01, 50, -5.01],
      ['Recall@10', 71.09, undefined, undefined],
      ['MAP@R', undefined, 25, undefined],
    ],
  );
  const text = formatComparisonText(c);
  assert.match(text, /Recall@1 +55\.01% +50\.00% +-5\.01/);
  assert.match(text, /Recall@10 +71\.09% +- +-/);
  assert.match(text, /different image sets \(100 vs 60502 images\)/);
  assert.match(text, /only one report has Recall@10, MAP@R/);
});

test('malformed reports: named file, reason and what to do', () => {
  assert.throws(
    () => readReport(path.join(dir, 'nope.json')),
    (e: ReportError) => e.message.endsWith('nope.json: report not found') && /vembed benchmark sop/.test(e.hint!),
  );
  assert.throws(() => readReport(dir), /is a folder, not a report/);
  assert.throws(() => parseReport('{"recall@1": 0.5,', 'cut.json'), /cut\.json: not valid JSON/);
  assert.throws(() => parseReport('[1, 2]', 'list.json'), /list\.json: expected a JSON object/);
  assert.throws(() => parseReport('{"accuracy": 0.9}', 'other.json'), /other\.json: no metrics found/);
  assert.throws(
    () => parseReport('{"recall@1": "55%"}', 's.json'),
    /"recall@1" must be a non-negative number, found "55%"/,
  );
  assert.throws(() => parseReport('{"recall@1": 155}', 'big.json'), /above 100%/);
});

test('the command prints the table, writes Markdown, and turns a bad report into a user error', async () => {
  let out = '';
  const reporter = new StreamReporter(
    false,
    (s) => (out += s),
    () => {},
  );
  const md = path.join(dir, 'table.md');
  const code = await benchmarkCompareCommand.run({
    args: { options: { markdown: md }, positionals: [beforeFile, afterFile] },
    reporter,
    signal: new AbortController().signal,
  });
  assert.equal(code, 0);
  assert.match(out, /Recall@1 +55\.01% +84\.49% +\+29\.48/);
  assert.match(fs.readFileSync(md, 'utf8'), /\| MAP@R \| 20\.01% \| 50\.12% \| \+30\.11 \|/);
  await assert.rejects(
    benchmarkCompareCommand.run({
      args: { options: {}, positionals: [beforeFile, path.join(dir, 'missing.json')] },
      reporter,
      signal: new AbortController().signal,
    }),
    (e: UserError) =>
      e instanceof UserError && /missing\.json: report not found/.test(e.message) && e.file!.endsWith('missing.json'),
  );
});

test('as a process: exit codes and messages', () => {
  const run = (args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'src/engine/cli/bin.ts'), 'benchmark', 'compare', ...args],
      { cwd: root, encoding: 'utf8', timeout: 60000 },
    );
  const ok = run([beforeFile, afterFile]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /MAP@R +20\.01% +50\.12% +\+30\.11/);
  const bad = run([beforeFile, path.join(dir, 'missing.json')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /missing\.json: report not found/);
  assert.match(bad.stderr, /hint: Run `vembed benchmark sop` first/);
  const usage = run([beforeFile]);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /needs at least two reports, got 1/);
});
