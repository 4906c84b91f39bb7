/**
 * Runs side by side: their loss and Recall@1 per epoch on one epoch axis,
 * their final metrics before and after training, and the config keys whose
 * values differ. One implementation for `vembed compare`, the Runs view's
 * Compare command and the compare page; free of Node built-ins, so the page
 * may import it too (a run is read by ./summary, which is not).
 */
import { compareMetrics, metricLabel } from '../metrics';
import { formatMeanSd, metricSpreads, type MetricSpread } from '../analysis/spread';
import type { Metrics } from '../protocol';

/** Fewer says nothing, more makes the charts unreadable (six chart colours in the theme palette). */
export const MIN_COMPARED_RUNS = 2;
export const MAX_COMPARED_RUNS = 6;

/** What a comparison needs of a run (./summary's RunSummary has all of it). */
export interface ComparableRun {
  dir: string;
  status: string;
  backend?: string;
  durationSeconds?: number;
  epochsDone: number;
  bestRecall1?: number;
  before?: Metrics;
  after?: Metrics;
  lossPerEpoch: { epoch: number; value: number }[];
  recall1PerEpoch: { epoch: number; value: number }[];
  config?: Record<string, unknown>;
}

/** Curves of several runs on one x axis: `series[r][i]` is run r's value at `epochs[i]` (null: none). */
export interface EpochSeries {
  epochs: number[];
  series: (number | null)[][];
}

export interface ConfigDifference {
  /** Dotted for nested keys: `column_mapping.query_image`. */
  key: string;
  /** Each run's value as YAML-ish text; undefined where a run's config lacks the key. */
  values: (string | undefined)[];
}

export interface RunComparison {
  runs: (Omit<ComparableRun, 'config' | 'lossPerEpoch' | 'recall1PerEpoch'> & { name: string })[];
  /** Metric names in table order (Recall@K by K, then MAP@R). */
  metrics: string[];
  loss: EpochSeries;
  recall1: EpochSeries;
  configDifferences: ConfigDifference[];
  /**
   * Each metric's spread over the runs' final evaluations (mean ± sample sd;
   * src/shared/analysis/spread.ts), when every run has one: for runs that
   * differ only in `seed` (e.g. `vembed train --seeds`) it is the seed spread.
   */
  spread?: MetricSpread[];
}

/**
 * Keys that differ between any two runs by nature, not by choice: the output
 * folder is the run itself (its name heads every column).
 */
const ALWAYS_DIFFERENT = new Set(['output_dir']);

/** Leaves of a config as dotted keys (lists and scalars are leaves). */
function flatten(value: Record<string, unknown>, prefix = '', out = new Map<string, string>()): Map<string, string> {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key, out);
    else out.set(key, typeof v === 'string' ? v : JSON.stringify(v));
  }
  return out;
}

/** The config keys whose values are not the same in every run, sorted by key. */
export function configDifferences(configs: (Record<string, unknown> | undefined)[]): ConfigDifference[] {
  const flat = configs.map((c) => flatten(c ?? {}));
  const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter((k) => !ALWAYS_DIFFERENT.has(k)).sort();
  return keys
    .map((key) => ({ key, values: flat.map((f) => f.get(key)) }))
    .filter((d) => d.values.some((v) => v !== d.values[0]));
}

function alignByEpoch(curves: { epoch: number; value: number }[][]): EpochSeries {
  const epochs = [...new Set(curves.flatMap((c) => c.map((p) => p.epoch)))].sort((a, b) => a - b);
  return {
    epochs,
    series: curves.map((c) => epochs.map((e) => c.find((p) => p.epoch === e)?.value ?? null)),
  };
}

/**
 * Names for the runs' columns: the shortest trailing part of each folder's
 * path that tells them apart (`demo`, or `a/out` and `b/out`).
 */
export function runNames(dirs: string[]): string[] {
  const parts = dirs.map((d) => d.split(/[\\/]+/).filter(Boolean));
  const longest = Math.max(...parts.map((p) => p.length));
  for (let n = 1; n <= longest; n++) {
    const names = parts.map((p) => p.slice(-n).join('/'));
    if (new Set(names).size === names.length) return names;
  }
  return dirs;
}

/** Compares 2..6 runs; throws a RangeError naming the count otherwise. */
export function compareRuns(runs: ComparableRun[]): RunComparison {
  if (runs.length < MIN_COMPARED_RUNS || runs.length > MAX_COMPARED_RUNS)
    throw new RangeError(`compare ${MIN_COMPARED_RUNS} to ${MAX_COMPARED_RUNS} runs; got ${runs.length}`);
  const names = runNames(runs.map((r) => r.dir));
  const metrics = [
    ...new Set(runs.flatMap((r) => [...Object.keys(r.before ?? {}), ...Object.keys(r.after ?? {})])),
  ].sort(compareMetrics);
  const afters = runs.map((r) => r.after);
  const spread = afters.every((a): a is Metrics => a !== undefined) ? metricSpreads(afters) : [];
  return {
    ...(spread.length > 0 ? { spread: spread.sort((a, b) => compareMetrics(a.metric, b.metric)) } : {}),
    runs: runs.map(({ config: _c, lossPerEpoch: _l, recall1PerEpoch: _r, ...rest }, i) => ({
      ...rest,
      name: names[i]!,
    })),
    metrics,
    loss: alignByEpoch(runs.map((r) => r.lossPerEpoch)),
    recall1: alignByEpoch(runs.map((r) => r.recall1PerEpoch)),
    configDifferences: configDifferences(runs.map((r) => r.config)),
  };
}

const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(2)}%`);

/** Columns padded to their widest cell; the first column left-aligned, the others right-aligned. */
function textTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '))
    .join('\n')
    .replace(/ +$/gm, '');
}

/** The comparison as `vembed compare` prints it. */
export function formatComparisonText(c: RunComparison): string {
  const names = c.runs.map((r) => r.name);
  const out: string[] = [];
  out.push('== Runs');
  out.push(
    textTable([
      ['run', 'status', 'epochs', 'backend', 'best R@1'],
      ...c.runs.map((r) => [r.name, r.status, String(r.epochsDone), r.backend ?? '–', pct(r.bestRecall1)]),
    ]),
  );
  out.push('', '== Final metrics (before training -> after the last evaluated epoch)');
  out.push(
    textTable([
      ['metric', ...names],
      ...c.metrics.map((m) => [metricLabel(m), ...c.runs.map((r) => `${pct(r.before?.[m])} -> ${pct(r.after?.[m])}`)]),
    ]),
  );
  const perEpoch = (title: string, s: EpochSeries, fmt: (v: number) => string) => {
    out.push('', `== ${title}`);
    out.push(
      textTable([
        ['epoch', ...names],
        ...s.epochs.map((e, i) => [String(e), ...s.series.map((row) => (row[i] == null ? '–' : fmt(row[i]!)))]),
      ]),
    );
  };
  perEpoch('Mean training loss per epoch', c.loss, (v) => v.toFixed(4));
  perEpoch('Recall@1 per epoch (0 = before training)', c.recall1, (v) => pct(v));
  if (c.spread) {
    const differ = c.configDifferences.map((d) => d.key);
    const why =
      differ.length === 1 && differ[0] === 'seed'
        ? 'the runs differ only in seed: this is the seed spread'
        : differ.length === 0
          ? 'the runs have the same config'
          : `the runs also differ in ${differ.filter((k) => k !== 'seed').join(', ')}`;
    out.push('', `== Final metrics over the runs: mean ± sample sd (${why})`);
    out.push(
      textTable([
        ['metric', 'mean ± sd', 'min', 'max'],
        ...c.spread.map((s) => [
          metricLabel(s.metric),
          formatMeanSd({ mean: s.mean * 100, sd: s.sd === null ? null : s.sd * 100 }, 2, '%'),
          pct(s.min),
          pct(s.max),
        ]),
      ]),
    );
  }
  out.push('', '== Config keys that differ (output_dir aside)');
  if (c.configDifferences.length === 0) out.push('none: the runs were started with the same config');
  else
    out.push(
      textTable([
        ['key', ...names],
        ...c.configDifferences.map((d) => [d.key, ...d.values.map((v) => v ?? '(unset)')]),
      ]),
    );
  return out.join('\n');
}

/** The compare page's messages: it says `ready` (on every load), the host answers with the comparison. */
export type CompareHostMessage = { type: 'comparison'; comparison: RunComparison };
export type ComparePageMessage = { type: 'ready' };
