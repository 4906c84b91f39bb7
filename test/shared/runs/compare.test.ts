// Comparing runs (src/shared/runs/compare.ts) and `vembed compare` as a process, text and --json,
// on two real short runs that differ in learning_rate only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  compareRuns,
  configDifferences,
  formatComparisonText,
  runNames,
  type RunComparison,
} from '../../../src/shared/runs/compare';
import { readRunSummary } from '../../../src/shared/runs/summary';
import { engineEvents, errorsOf } from '../../engine/engineEvents';
import { BIN, makeRealRuns, type RealRuns } from './realRuns';

describe('config differences', () => {
  test('only keys whose values differ, nested keys dotted, a missing key shown as missing; output_dir aside', () => {
    const d = configDifferences([
      { lr: 0.001, epochs: 2, column_mapping: { query_image: 'q', positive: 'p' }, output_dir: 'a', seed: 1 },
      { lr: 0.01, epochs: 2, column_mapping: { query_image: 'q', positive: 'pos' }, output_dir: 'b' },
    ]);
    assert.deepEqual(d, [
      { key: 'column_mapping.positive', values: ['p', 'pos'] },
      { key: 'lr', values: ['0.001', '0.01'] },
      { key: 'seed', values: ['1', undefined] },
    ]);
  });

  test('identical configs differ in nothing; lists compare as a whole', () => {
    assert.deepEqual(configDifferences([{ a: [1, 2] }, { a: [1, 2] }]), []);
    assert.deepEqual(configDifferences([{ a: [1, 2] }, { a: [2, 1] }]), [{ key: 'a', values: ['[1,2]', '[2,1]'] }]);
  });

  test('run names: the shortest trailing parts of the folders that tell them apart', () => {
    assert.deepEqual(runNames(['/w/runs/demo', '/w/runs/mining']), ['demo', 'mining']);
    assert.deepEqual(runNames(['/w/a/out', '/w/b/out']), ['a/out', 'b/out']);
  });

  test('2 to 6 runs', () => {
    const run = { dir: '/r', status: 'finished', epochsDone: 0, lossPerEpoch: [], recall1PerEpoch: [] };
    assert.throws(() => compareRuns([run]), /2 to 6 runs; got 1/);
    assert.throws(() => compareRuns(Array.from({ length: 7 }, (_, i) => ({ ...run, dir: `/r${i}` }))), /got 7/);
  });
});

describe('two real runs', () => {
  let runs: RealRuns;
  before(async () => {
    runs = await makeRealRuns('compare');
  });
  after(() => runs?.data.remove());

  test('curves of both runs per epoch, before/after metrics, and learning_rate as the one chosen difference', () => {
    const a = readRunSummary(runs.a)!;
    const b = readRunSummary(runs.b)!;
    const c = compareRuns([a, b]);
    assert.deepEqual(
      c.runs.map((r) => r.name),
      ['a/out', 'b/out'],
    );
    assert.deepEqual(c.loss.epochs, [1, 2]);
    assert.deepEqual(c.loss.series, [a.lossPerEpoch.map((p) => p.value), b.lossPerEpoch.map((p) => p.value)]);
    assert.deepEqual(c.recall1.epochs, [0, 1, 2]);
    assert.notDeepEqual(c.loss.series[0], c.loss.series[1], 'a 10x learning rate trains differently');
    assert.equal(c.metrics[0], 'recall@1');
    assert.deepEqual(c.runs[0]!.after, a.after);
    // The runs' resolved configs also name their own folders (model, data, config paths); learning_rate is
    // the key the test chose to change.
    const lr = c.configDifferences.find((d) => d.key === 'learning_rate');
    assert.deepEqual(lr?.values, ['0.001', '0.01']);
    assert.equal(
      c.configDifferences.find((d) => d.key === 'epochs'),
      undefined,
      'keys with equal values are not listed',
    );
    const text = formatComparisonText(c);
    assert.match(text, /^learning_rate\s+0\.001\s+0\.01$/m);
    assert.match(text, /^Recall@1\s+\d+\.\d\d% -> \d+\.\d\d%\s+\d+\.\d\d% -> \d+\.\d\d%$/m);
  });

  test('vembed compare prints the comparison; --json writes events and the comparison file they name', () => {
    const text = spawnSync(process.execPath, [BIN, 'compare', runs.a, runs.b], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.equal(
      text.stdout.split('\n== Config keys')[0],
      formatComparisonText(compareRuns([readRunSummary(runs.a)!, readRunSummary(runs.b)!])).split(
        '\n== Config keys',
      )[0],
    );
    assert.match(text.stdout, /^learning_rate\s+0\.001\s+0\.01$/m);

    const out = path.join(runs.data.work, 'comparison.json');
    const json = spawnSync(process.execPath, [BIN, 'compare', runs.a, runs.b, '--json', '--out', out], {
      encoding: 'utf8',
    });
    assert.equal(json.status, 0, json.stderr);
    const lines = json.stdout.trim().split('\n');
    const events = engineEvents(json.stdout);
    assert.equal(events.length, lines.length, 'every stdout line is an event');
    const finished = events.find((e) => e.type === 'finished');
    assert.equal(finished?.type === 'finished' && finished.outputs?.comparison, out);
    const written = JSON.parse(fs.readFileSync(out, 'utf8')) as RunComparison;
    assert.deepEqual(
      written.runs.map((r) => r.name),
      ['a/out', 'b/out'],
    );
    assert.deepEqual(written.configDifferences.find((d) => d.key === 'learning_rate')?.values, ['0.001', '0.01']);
  });

  test('vembed compare refuses one run, and a folder that is not a run, saying which', () => {
    const one = spawnSync(process.execPath, [BIN, 'compare', runs.a, '--json'], { encoding: 'utf8' });
    assert.equal(one.status, 2);
    assert.match(errorsOf(engineEvents(one.stdout))[0]!.message, /needs 2 to 6 run folders, got 1/);
    const notRun = path.join(runs.data.work, 'data');
    const bad = spawnSync(process.execPath, [BIN, 'compare', runs.a, notRun, '--json'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    const err = errorsOf(engineEvents(bad.stdout))[0]!;
    assert.equal(err.message, `${notRun} is not a run folder: it has no events.jsonl`);
    assert.match(err.hint ?? '', /output_dir/);
  });
});
