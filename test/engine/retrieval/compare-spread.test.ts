// `vembed benchmark compare BEFORE AFTER AFTER ...`: one column per fine-tuned run (one per seed), After as their
// mean ± sample sd, the delta the mean's; the numbers checked by hand (three values, sd with divisor n - 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareReportSpread,
  formatSpreadComparisonMarkdown,
  formatSpreadComparisonText,
} from '../../../src/engine/retrieval/compare';
import { parseReport } from '../../../src/shared/artifacts/reportFile';
import { benchmarkCompareCommand } from '../../../src/engine/cli/commands/benchmarkCompare';
import { StreamReporter } from '../../../src/engine/cli/reporter';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const report = (r1: number, mapr: number, file: string) =>
  parseReport(JSON.stringify({ 'recall@1': r1, 'map@r': mapr, num_images: 720 }), file);

test('each seed a column, mean ± sd (n - 1), delta of the mean', () => {
  const c = compareReportSpread(
    report(0.1, 0.04, 'zero.json'),
    [report(0.16, 0.08, 'a.json'), report(0.14, 0.07, 'b.json'), report(0.18, 0.09, 'c.json')],
    ['seed 42', 'seed 1', 'seed 2'],
  );
  const r1 = c.rows[0]!;
  assert.equal(r1.label, 'Recall@1');
  assert.ok(Math.abs(r1.spread.mean - 16) < 1e-12);
  assert.ok(Math.abs(r1.spread.sd! - 2) < 1e-12); // deviations -0, -2, +2 -> sqrt(8 / 2)
  assert.ok(Math.abs(r1.delta! - 6) < 1e-12);
  const lines = formatSpreadComparisonText(c).split('\n');
  assert.deepEqual(lines.slice(0, 4), ['Before: zero.json', 'seed 42: a.json', 'seed 1: b.json', 'seed 2: c.json']);
  assert.deepEqual(lines.slice(5), [
    'Metric    Before  seed 42  seed 1  seed 2  After (mean ± sd, n=3)  Delta (pts)',
    '--------  ------  -------  ------  ------  ----------------------  -----------',
    'Recall@1  10.00%   16.00%  14.00%  18.00%          16.00% ± 2.00%        +6.00',
    'MAP@R      4.00%    8.00%   7.00%   9.00%           8.00% ± 1.00%        +4.00',
  ]);
  assert.match(
    formatSpreadComparisonMarkdown(c),
    /\| Recall@1 \| 10\.00% \| 16\.00% \| 14\.00% \| 18\.00% \| 16\.00% ± 2\.00% \| \+6\.00 \|/,
  );
});

test('the command takes several AFTER reports and --labels; a label count that does not match is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-compare-spread-'));
  try {
    const files = [0.1, 0.16, 0.14].map((r1, i) => {
      const f = path.join(dir, `r${i}.json`);
      fs.writeFileSync(f, JSON.stringify({ 'recall@1': r1 }));
      return f;
    });
    let out = '';
    const reporter = new StreamReporter(
      false,
      (s) => (out += s),
      () => {},
    );
    const run = (positionals: string[], options: Record<string, string> = {}) =>
      benchmarkCompareCommand.run({
        args: { command: 'benchmark compare', positionals, options } as never,
        reporter,
        signal: new AbortController().signal,
      });
    assert.equal(await run(files, { labels: 'seed 1,seed 2' }), 0);
    assert.match(out, /Recall@1 +10\.00% +16\.00% +14\.00% +15\.00% ± 1\.41%/);
    await assert.rejects(run(files, { labels: 'only one' }), /--labels names 1 column\(s\) for 2 AFTER report\(s\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
