import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { writeJsonAtomic } from '../../../shared/fs/atomic';
import { EVENTS_FILE } from '../../../shared/runs/runFolder';
import { readRunSummary, type RunSummary } from '../../../shared/runs/summary';
import { compareRuns, formatComparisonText, MAX_COMPARED_RUNS, MIN_COMPARED_RUNS } from '../../../shared/runs/compare';
import type { Command } from '../command';
import { parseSeedSweep, SEED_SWEEP_FILE } from '../../../shared/artifacts/seedSweepFile';

/**
 * A seed sweep's folder (`vembed train --seeds`: seed-sweep.json beside its
 * runs) stands for its runs; any other folder for itself.
 */
function expandSweeps(dirs: readonly string[]): string[] {
  return dirs.flatMap((d) => {
    const file = path.join(d, SEED_SWEEP_FILE);
    if (fs.existsSync(path.join(d, EVENTS_FILE)) || !fs.existsSync(file)) return [d];
    const sweep = parseSeedSweep(fs.readFileSync(file, 'utf8'), file);
    return sweep.runs.map((r) => path.join(d, r.dir));
  });
}

export const compareCommand: Command = {
  name: 'compare',
  summary: 'Runs side by side: loss and Recall@1 per epoch, final metrics before/after, config keys that differ',
  usage: "RUN... [--out FILE]  (a seed sweep's folder stands for its runs)",
  description: [
    `Reads ${MIN_COMPARED_RUNS} to ${MAX_COMPARED_RUNS} run folders (a training run's output_dir, holding ${EVENTS_FILE}) and prints`,
    "each run's status, epochs, backend and best Recall@1; the metrics before training and after the last",
    'evaluated epoch; the mean loss and Recall@1 of every epoch; and the config keys whose values differ',
    "(output_dir aside), and each final metric's mean ± sample sd over the runs (the seed spread when they differ",
    "only in seed). A seed sweep's folder (vembed train --seeds) stands for its runs: `vembed compare runs/demo`.",
    "Nothing is computed again: everything comes from the runs' events.",
    'With --out (or --json) the comparison is also written as JSON (runs, metrics, loss, recall1,',
    'configDifferences); with --json its file is named in the finished event (outputs.comparison).',
  ].join('\n'),
  options: [
    { name: 'out', type: 'string', metavar: 'FILE', description: 'Also write the comparison as JSON to FILE.' },
  ],
  async run({ args, reporter }) {
    const dirs = expandSweeps(args.positionals);
    if (dirs.length < MIN_COMPARED_RUNS || dirs.length > MAX_COMPARED_RUNS)
      throw new UsageError(
        `needs ${MIN_COMPARED_RUNS} to ${MAX_COMPARED_RUNS} run folders, got ${dirs.length}: vembed compare RUN_A RUN_B ...`,
      );
    const started = Date.now();
    const summaries: RunSummary[] = dirs.map((d) => {
      const dir = path.resolve(d);
      if (!fs.existsSync(dir)) throw new UserError(`run folder not found: ${dir}`);
      const s = readRunSummary(dir);
      if (!s)
        throw new UserError(
          `${dir} is not a run folder: it has no ${EVENTS_FILE}`,
          "Pass a training run's output_dir (the folder `vembed train` wrote its checkpoints and events to).",
          'not-a-run',
          dir,
        );
      return s;
    });
    const comparison = compareRuns(summaries);
    reporter.result(formatComparisonText(comparison));
    const out = args.options.out
      ? path.resolve(String(args.options.out))
      : reporter.json
        ? path.join(os.tmpdir(), `vembed-compare-${process.pid}-${Date.now()}.json`)
        : undefined;
    if (out) {
      writeJsonAtomic(out, comparison);
      reporter.info(`wrote ${out}`);
    }
    reporter.event({
      type: 'finished',
      status: 'completed',
      seconds: (Date.now() - started) / 1000,
      ...(out ? { outputs: { comparison: out } } : {}),
    });
    return 0;
  },
};
