/**
 * `vembed train --seeds 42,1,2`: the same config trained once per seed, each
 * run in its own subfolder of output_dir (`seed-42`, ...), then each metric's
 * mean ± sd over the runs' final evaluations, printed, sent as a
 * `seed_spread` event and written to `output_dir/seed-sweep.json`.
 *
 * Each run is an ordinary `vembed train` (the command itself, with
 * `--set seed=N --set output_dir=...`), so validation, the run lock, resume,
 * overwrite, the backend and Ctrl+C behave exactly as for one run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { metricSpreads, formatSpreadTable } from '../../../shared/analysis/spread';
import {
  SEED_SWEEP_FILE,
  SEED_SWEEP_FORMAT,
  SEED_SWEEP_VERSION,
  seedRunDirName,
  type SeedRunSummary,
  type SeedSweepSummary,
} from '../../../shared/artifacts/seedSweepFile';
import { specOf } from '../../../shared/config/schema';
import { boundsProblem } from '../../../shared/config/validate';
import { writeJsonAtomic } from '../../../shared/fs/atomic';
import { makeDirs } from '../../../shared/fs/makeDirs';
import { parseEventLine, type EvaluationEvent, type FinishedEvent } from '../../../shared/protocol';
import { loadConfigFile } from '../../config/load';
import { EVENTS_FILE } from '../../run/eventLog';
import { UsageError } from '../args';
import type { Command, CommandContext } from '../command';

/** `42,1,2` as distinct seeds within the config's `seed` bounds; at least two (one is a plain run). */
export function parseSeeds(text: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const seeds = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new UsageError(`--seeds: "${p}" is not a whole number (e.g. --seeds 42,1,2)`);
    const n = Number(p);
    const problem = boundsProblem(specOf('seed')!, n);
    if (problem) throw new UsageError(`--seeds: ${n} ${problem}`);
    return n;
  });
  if (seeds.length < 2)
    throw new UsageError(
      `--seeds needs at least two seeds for a spread, got ${seeds.length} (for one run: --set seed=N)`,
    );
  const dup = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (dup !== undefined) throw new UsageError(`--seeds: ${dup} is listed twice`);
  return seeds;
}

/** What one run's events.jsonl says about how it ended and its last evaluation after training. */
export function readRunOutcome(runDir: string): Pick<SeedRunSummary, 'status' | 'evaluation'> {
  let text: string;
  try {
    text = fs.readFileSync(path.join(runDir, EVENTS_FILE), 'utf8');
  } catch {
    return { status: 'failed' };
  }
  let finished: FinishedEvent | undefined;
  let evaluation: EvaluationEvent | undefined;
  for (const line of text.split('\n')) {
    const parsed = parseEventLine(line);
    if (parsed.kind !== 'event') continue;
    const e = parsed.event;
    if (e.type === 'finished') finished = e;
    if (e.type === 'evaluation' && e.epoch > 0) evaluation = e;
  }
  return {
    status: finished?.status ?? 'failed',
    ...(evaluation
      ? {
          evaluation: {
            epoch: evaluation.epoch,
            step: evaluation.step,
            split: evaluation.split,
            metrics: evaluation.metrics,
          },
        }
      : {}),
  };
}

/** The sweep's summary from its runs: the spread is over the runs that completed with an evaluation. */
export function summarizeSweep(configFile: string, seeds: number[], runs: SeedRunSummary[]): SeedSweepSummary {
  const done = runs.filter((r) => r.status === 'completed' && r.evaluation);
  return {
    format: SEED_SWEEP_FORMAT,
    version: SEED_SWEEP_VERSION,
    configFile,
    seeds,
    runs,
    spread: metricSpreads(done.map((r) => r.evaluation!.metrics)),
  };
}

/**
 * Runs `train` once per seed. `train` is the train command itself (passed in
 * so this module does not import the command that imports it).
 */
export async function runSeedSweep(ctx: CommandContext, train: Command): Promise<number> {
  const { args, reporter, signal } = ctx;
  const seeds = parseSeeds(String(args.options.seeds));
  const resume = args.options.resume as string | undefined;
  if (resume !== undefined && resume !== 'latest')
    throw new UsageError('with --seeds, --resume takes only "latest" (each seed resumes its own run)');
  const configFile = args.options.config as string;
  const sets = (args.options.set as string[] | undefined) ?? [];
  const loaded = loadConfigFile(configFile, sets);
  // An invalid config: the first run reports it as a single run would, and nothing trains.
  const sweepDir = loaded.config?.output_dir ?? path.resolve('output');

  const runs: SeedRunSummary[] = [];
  let code = 0;
  for (const [i, seed] of seeds.entries()) {
    if (signal.aborted) break;
    const dir = seedRunDirName(seed);
    reporter.info(`seed sweep: run ${i + 1} of ${seeds.length}, seed ${seed}, in ${path.join(sweepDir, dir)}`);
    // The run's own options: no --seeds (or it would sweep again), its seed and folder last so they win.
    const { seeds: _sweep, ...rest } = args.options;
    const options = { ...rest, set: [...sets, `seed=${seed}`, `output_dir=${path.join(sweepDir, dir)}`] };
    try {
      code = await train.run({ ...ctx, args: { ...args, options } });
    } finally {
      // Also when the run throws (a failed run, a refused folder): the summary says which seeds got how far.
      if (loaded.config) {
        runs.push({ seed, dir, ...readRunOutcome(path.join(sweepDir, dir)) });
        writeSummary(sweepDir, summarizeSweep(configFile, seeds, runs));
      }
    }
    if (code !== 0) break;
  }

  const summary = summarizeSweep(configFile, seeds, runs);
  const file = writeSummary(sweepDir, summary);
  const complete = runs.filter((r) => r.status === 'completed' && r.evaluation);
  reporter.event({
    type: 'seed_spread',
    seeds,
    completedSeeds: complete.map((r) => r.seed),
    spread: summary.spread,
    summaryFile: file,
  });
  if (complete.length > 0) {
    const last = complete.map((r) => r.evaluation!);
    const epochs = [...new Set(last.map((e) => e.epoch))].join(', ');
    reporter.result(
      `\nSeed sweep of ${configFile}: ${complete.length} of ${seeds.length} run(s) completed; ` +
        `their last evaluation (${last[0]!.split}, epoch ${epochs}), sample sd:\n\n` +
        formatSpreadTable(
          summary.spread,
          complete.map((r) => `seed ${r.seed}`),
        ) +
        `\n\nwrote ${file}`,
    );
  }
  if (complete.length < seeds.length)
    reporter.warn(
      `seed sweep: ${seeds.length - complete.length} of ${seeds.length} run(s) did not complete (${seeds
        .filter((s) => !complete.some((r) => r.seed === s))
        .join(', ')}); the spread covers the others. Continue with --resume latest.`,
      'sweep-incomplete',
    );
  return code;
}

function writeSummary(sweepDir: string, summary: SeedSweepSummary): string {
  makeDirs(sweepDir);
  const file = path.join(sweepDir, SEED_SWEEP_FILE);
  writeJsonAtomic(file, summary);
  return file;
}
