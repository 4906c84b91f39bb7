/**
 * The results panel and a seed sweep (`vembed train --seeds`): a run folder
 * `seed-N` beside the sweep's seed-sweep.json gets the sweep's spread with its
 * reports, and the Training tab's model shows this seed against the mean ± sd.
 * Real files in a temp folder, the summary made by the engine's own code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readReports, readSeedSpread } from '../../src/extension/panel/reports';
import { summarizeSweep } from '../../src/engine/cli/commands/trainSeeds';
import { SEED_SWEEP_FILE } from '../../src/shared/artifacts/seedSweepFile';
import { initialRunState } from '../../src/shared/runState';
import { initialModel, reduce } from '../../webview-ui/src/state';
import { seedSpreadView } from '../../webview-ui/src/viewModel';

let sweep = '';
const metrics = (r1: number, mapr: number) => ({ 'recall@1': r1, 'recall@10': 0.5, 'map@r': mapr });

before(() => {
  sweep = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-panel-sweep-'));
  const runs = [
    [42, metrics(0.1764, 0.0808)],
    [1, metrics(0.1375, 0.07)],
    [2, metrics(0.1917, 0.09)],
  ] as const;
  for (const [seed] of runs) fs.mkdirSync(path.join(sweep, `seed-${seed}`));
  const summary = summarizeSweep(
    'examples/demo_i2i.yaml',
    runs.map(([s]) => s),
    runs.map(([seed, m]) => ({
      seed,
      dir: `seed-${seed}`,
      status: 'completed' as const,
      evaluation: { epoch: 3, step: 66, split: 'val', metrics: m },
    })),
  );
  fs.writeFileSync(path.join(sweep, SEED_SWEEP_FILE), JSON.stringify(summary));
});
after(() => fs.rmSync(sweep, { recursive: true, force: true }));

test('a run of a sweep gets the spread with its reports; this seed against mean ± sd in the Training tab', async () => {
  const runDir = path.join(sweep, 'seed-1');
  const { reports, problems } = await readReports({}, initialRunState(), runDir);
  assert.deepEqual(problems, []);
  assert.equal(reports.seedSpread?.thisSeed, 1);
  assert.deepEqual(reports.seedSpread?.seeds, [42, 1, 2]);

  const model = reduce(initialModel(), { type: 'host', message: { type: 'reports', ...reports } });
  const view = seedSpreadView(model)!;
  assert.deepEqual(
    view.rows.map((r) => r.label),
    ['Recall@1', 'Recall@10', 'MAP@R'],
  );
  const r1 = view.rows[0]!;
  assert.equal(r1.thisRun, 0.1375);
  assert.ok(Math.abs(r1.mean - (0.1764 + 0.1375 + 0.1917) / 3) < 1e-15);
  assert.equal(r1.min, 0.1375);
  assert.equal(r1.max, 0.1917);
  assert.match(view.caption, /seed 1 of a sweep over seeds 42, 1, 2/);
});

test('a folder outside the sweep has no spread; an unreadable summary is a problem named with its file', async () => {
  fs.mkdirSync(path.join(sweep, 'other'), { recursive: true });
  assert.equal(readSeedSpread(path.join(sweep, 'other')), undefined);
  assert.equal(readSeedSpread(os.tmpdir()), undefined);
  assert.equal(seedSpreadView(initialModel()), null);

  const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-panel-sweep-bad-'));
  try {
    fs.mkdirSync(path.join(broken, 'seed-3'));
    fs.writeFileSync(path.join(broken, SEED_SWEEP_FILE), '{"format": "something-else"}');
    const { reports, problems } = await readReports({}, initialRunState(), path.join(broken, 'seed-3'));
    assert.equal(reports.seedSpread, undefined);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /seed-sweep\.json: not a seed-sweep summary/);
  } finally {
    fs.rmSync(broken, { recursive: true, force: true });
  }
});
