/**
 * The spread of a metric over repeated runs (one run per seed): mean, sample
 * standard deviation, range. A single fine-tuning run on a small data set is
 * one draw: on the sample set, seeds 42, 1 and 2 of the 5-epoch demo config
 * gave Recall@1 17.6, 13.8 and 19.2 (issue #30), so a before/after claim needs
 * the spread, not one seed.
 *
 * Pure arithmetic over metric records, shared by `vembed train --seeds`, the
 * benchmark comparison, the results panel and the runs comparison.
 */
import { metricLabel } from '../metrics';
import { alignedTable } from '../text/table';

/** One run's metrics, by name (`recall@1`, `map@r`, ...). */
export type MetricRecord = Readonly<Record<string, number>>;

export interface MetricSpread {
  metric: string;
  /** How many runs the metric was found in (all of them: see metricSpreads). */
  n: number;
  mean: number;
  /**
   * Sample standard deviation (divisor n - 1, NumPy's `std(ddof=1)`): the runs
   * are a sample of the seeds one could have drawn. Null for a single run.
   */
  sd: number | null;
  min: number;
  max: number;
  /** The runs' values, in run order. */
  values: number[];
}

/** Mean, sample sd and range of `values` (at least one, all finite). */
export function spreadOf(metric: string, values: readonly number[]): MetricSpread {
  if (values.length === 0) throw new Error(`spread of ${metric}: no values`);
  const bad = values.find((v) => !Number.isFinite(v));
  if (bad !== undefined) throw new Error(`spread of ${metric}: ${bad} is not a finite number`);
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  // Two passes (deviations from the mean) rather than sum of squares minus square of sum, which cancels badly.
  const sd = n < 2 ? null : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { metric, n, mean, sd, min: Math.min(...values), max: Math.max(...values), values: [...values] };
}

/**
 * The spread of every metric found in all of `runs`, in the first run's
 * order. A metric missing from some run is left out rather than averaged over
 * fewer runs, so every row describes the same runs.
 */
export function metricSpreads(runs: readonly MetricRecord[]): MetricSpread[] {
  if (runs.length === 0) return [];
  const names = Object.keys(runs[0]!).filter((m) => runs.every((r) => typeof r[m] === 'number'));
  return names.map((m) =>
    spreadOf(
      m,
      runs.map((r) => r[m]!),
    ),
  );
}

/** `17.64 ± 2.71` (sd omitted for one run), with `digits` decimals. */
export function formatMeanSd(s: Pick<MetricSpread, 'mean' | 'sd'>, digits = 2, unit = ''): string {
  const mean = `${s.mean.toFixed(digits)}${unit}`;
  return s.sd === null ? mean : `${mean} ± ${s.sd.toFixed(digits)}${unit}`;
}

/**
 * A plain-text table of spreads: one row per metric, a column per run (headed
 * by `runLabels`), then mean ± sd and the range. `scale` turns the stored
 * values into the printed ones (100 for fractions shown as percent).
 */
export function formatSpreadTable(spreads: readonly MetricSpread[], runLabels: readonly string[], scale = 100): string {
  const pct = (v: number) => `${(v * scale).toFixed(2)}${scale === 100 ? '%' : ''}`;
  const n = spreads[0]?.n ?? runLabels.length;
  const header = ['Metric', ...runLabels, `mean ± sd (n=${n})`, 'min .. max'];
  const rows = spreads.map((s) => [
    metricLabel(s.metric),
    ...s.values.map(pct),
    formatMeanSd({ mean: s.mean * scale, sd: s.sd === null ? null : s.sd * scale }, 2, scale === 100 ? '%' : ''),
    `${pct(s.min)} .. ${pct(s.max)}`,
  ]);
  return alignedTable(header, rows).join('\n');
}
