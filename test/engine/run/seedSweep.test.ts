// `vembed train --seeds`: one run per seed in its own subfolder, and the spread of their final evaluations, checked
// against NumPy over the runs' own evaluation reports (eval-epoch-E.json). Tiny model and data, made here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { engineEvents } from '../engineEvents';
import { SharedRunData } from './fixtures';
import { runPython } from '../../helpers/python';
import { parseSeedSweep, SEED_SWEEP_FILE } from '../../../src/shared/artifacts/seedSweepFile';
import { formatMeanSd, metricSpreads, spreadOf } from '../../../src/shared/analysis/spread';
import { metricLabel } from '../../../src/shared/metrics';
import { parseSeeds } from '../../../src/engine/cli/commands/trainSeeds';
import type { SeedSpreadEvent } from '../../../src/shared/protocol';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const SEEDS = [3, 11, 5];

let shared: SharedRunData;
before(async () => {
  shared = await SharedRunData.create('seeds');
});
after(() => shared.remove());

function train(dir: string, args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 400_000,
    env: { ...process.env, VEMBED_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('vembed train --seeds', () => {
  test('trains once per seed in output_dir/seed-N; the spread equals NumPy over the runs’ reports', () => {
    const { dir } = shared.runDir('sweep', { epochs: 1 });
    const r = train(dir, ['--seeds', SEEDS.join(','), '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
    const out = path.join(dir, 'out');

    // Each run is a whole run of its own, trained with its seed.
    const reports = SEEDS.map((seed) => {
      const runDir = path.join(out, `seed-${seed}`);
      const events = engineEvents(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
      const started = events.find((e) => e.type === 'run_started');
      assert.equal(started?.type === 'run_started' && started.config?.seed, seed);
      assert.equal(events.at(-1)?.type, 'finished');
      return path.join(runDir, 'eval-epoch-1.json');
    });
    // Different seeds train differently (shuffle, augmentation, dropout).
    const firstLosses = SEEDS.map((seed) => {
      const events = engineEvents(fs.readFileSync(path.join(out, `seed-${seed}`, 'events.jsonl'), 'utf8'));
      return events.find((e) => e.type === 'step')!;
    });
    assert.equal(new Set(firstLosses.map((e) => (e.type === 'step' ? e.loss : 0))).size, SEEDS.length);

    const summary = parseSeedSweep(fs.readFileSync(path.join(out, SEED_SWEEP_FILE), 'utf8'));
    assert.deepEqual(summary.seeds, SEEDS);
    assert.deepEqual(
      summary.runs.map((x) => [x.seed, x.dir, x.status, x.evaluation?.epoch]),
      SEEDS.map((s) => [s, `seed-${s}`, 'completed', 1]),
    );
    const event = engineEvents(r.stdout).find((e) => e.type === 'seed_spread') as SeedSpreadEvent | undefined;
    assert.ok(event, 'no seed_spread event on stdout');
    assert.deepEqual(event.spread, summary.spread);
    assert.deepEqual(event.completedSeeds, SEEDS);
    assert.deepEqual(
      summary.spread.map((s) => s.metric),
      ['recall@1', 'recall@10', 'recall@100', 'map@r'],
    );

    const numpy = JSON.parse(
      runPython([
        '-c',
        `import json, sys
import numpy as np
reports = [json.load(open(f)) for f in sys.argv[1:]]
out = {}
for m in ["recall@1", "recall@10", "recall@100", "map@r"]:
    v = np.array([r[m] for r in reports], dtype=np.float64)
    out[m] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)), "min": float(v.min()), "max": float(v.max())}
print(json.dumps(out))`,
        ...reports,
      ])
        .trim()
        .split('\n')
        .pop()!,
    ) as Record<string, { mean: number; sd: number; min: number; max: number }>;
    for (const s of summary.spread) {
      const ref = numpy[s.metric]!;
      for (const k of ['mean', 'sd', 'min', 'max'] as const)
        assert.ok(Math.abs((s[k] as number) - ref[k]) <= 1e-12, `${s.metric} ${k}: ${String(s[k])} vs NumPy ${ref[k]}`);
    }
  });

  test('vembed compare of the sweep folder compares its runs and prints the same spread', () => {
    const out = path.join(shared.work, 'sweep', 'out');
    const summary = parseSeedSweep(fs.readFileSync(path.join(out, SEED_SWEEP_FILE), 'utf8'));
    const r = spawnSync(process.execPath, [bin, 'compare', out], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /== Final metrics over the runs: mean ± sample sd \(the runs differ only in seed: this is the seed spread\)/,
    );
    for (const seed of SEEDS) assert.match(r.stdout, new RegExp(`seed-${seed}`));
    for (const s of summary.spread) {
      const label = metricLabel(s.metric);
      const cell = formatMeanSd({ mean: s.mean * 100, sd: s.sd! * 100 }, 2, '%');
      assert.ok(
        r.stdout.split('\n').some((l) => l.startsWith(label + ' ') && l.includes(cell)),
        `${label} ${cell}\n${r.stdout}`,
      );
    }
  });

  test('the human output prints the table with every seed and mean ± sd', () => {
    const { dir } = shared.runDir('sweep-text', { epochs: 1, max_steps: 1 });
    const r = train(dir, ['--seeds', '1,2']);
    assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
    assert.match(r.stdout, /Seed sweep of train_i2i\.yaml: 2 of 2 run\(s\) completed/);
    assert.match(r.stdout, /Metric\s+seed 1\s+seed 2\s+mean ± sd \(n=2\)\s+min \.\. max/);
    assert.match(r.stdout, /Recall@1 .*% ± .*%/);
  });

  test('bad --seeds lists are refused before anything runs', () => {
    assert.throws(() => parseSeeds('42'), /at least two seeds/);
    assert.throws(() => parseSeeds('42,x'), /"x" is not a whole number/);
    assert.throws(() => parseSeeds('42,42'), /42 is listed twice/);
    assert.throws(() => parseSeeds('1,3000000000'), /must be >= 0 and <= 2147483647/);
    assert.deepEqual(parseSeeds(' 42, 1 ,2'), [42, 1, 2]);
    const { dir } = shared.runDir('sweep-bad');
    const r = train(dir, ['--seeds', '7']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--seeds needs at least two seeds/);
    assert.ok(!fs.existsSync(path.join(dir, 'out')));
  });
});

describe('spread arithmetic', () => {
  test('sample sd (n - 1), one run has none, metrics missing from a run are left out', () => {
    const s = spreadOf('recall@1', [0.1, 0.2, 0.3]);
    assert.ok(Math.abs(s.mean - 0.2) < 1e-15);
    assert.ok(Math.abs(s.sd! - 0.1) < 1e-15);
    assert.equal(spreadOf('x', [0.5]).sd, null);
    assert.deepEqual(
      metricSpreads([{ a: 1, b: 2 }, { a: 3 }]).map((x) => x.metric),
      ['a'],
    );
    assert.throws(() => spreadOf('x', [NaN]), /not a finite number/);
  });
});
