/**
 * The before/after table of two benchmark reports: metric, before, after,
 * and the change in percentage points.
 * Reading a report file is src/shared/artifacts/reportFile.ts.
 */
import { comparisonRows, type ComparisonRow as SharedComparisonRow } from '../../shared/metrics';
import type { LoadedReport } from '../../shared/artifacts/reportFile';
import { formatMeanSd, metricSpreads, type MetricSpread } from '../../shared/analysis/spread';
import { alignedTable } from '../../shared/text/table';

/** Rows hold percentages here (reports are read as percent); delta is in percentage points. */
export type ComparisonRow = SharedComparisonRow;

export interface Comparison {
  rows: ComparisonRow[];
  before: LoadedReport;
  after: LoadedReport;
  /** Reasons the two numbers may not be comparable. */
  warnings: string[];
}

export function compareReports(before: LoadedReport, after: LoadedReport): Comparison {
  const rows: ComparisonRow[] = comparisonRows(before.metrics, after.metrics);
  const warnings: string[] = [];
  if (before.numImages !== undefined && after.numImages !== undefined && before.numImages !== after.numImages) {
    warnings.push(
      `the reports cover different image sets (${before.numImages} vs ${after.numImages} images), so the numbers are not directly comparable`,
    );
  }
  const missing = rows.filter((r) => r.delta === undefined).map((r) => r.label);
  if (missing.length > 0) warnings.push(`only one report has ${missing.join(', ')}`);
  return { rows, before, after, warnings };
}

const cell = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}%`);
const deltaCell = (v: number | undefined) => (v === undefined ? '-' : `${v >= 0 ? '+' : '-'}${Math.abs(v).toFixed(2)}`);

function describe(r: LoadedReport): string {
  return `${r.file}${r.model ? ` (${r.model})` : ''}`;
}

/** A plain-text table with aligned columns. */
export function formatComparisonText(c: Comparison): string {
  const header = ['Metric', 'Before', 'After', 'Delta (pts)'];
  const body = c.rows.map((r) => [r.label, cell(r.before), cell(r.after), deltaCell(r.delta)]);
  return [
    `Before: ${describe(c.before)}`,
    `After:  ${describe(c.after)}`,
    '',
    ...alignedTable(header, body),
    ...c.warnings.map((w) => `\nNote: ${w}.`),
  ].join('\n');
}

export function formatComparisonMarkdown(c: Comparison): string {
  const md = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| Metric | Before | After | Δ (points) |',
    '|---|---:|---:|---:|',
    ...c.rows.map((r) => `| ${r.label} | ${cell(r.before)} | ${cell(r.after)} | ${deltaCell(r.delta)} |`),
    '',
    `Before: \`${md(describe(c.before))}\`  `,
    `After: \`${md(describe(c.after))}\``,
    ...c.warnings.map((w) => `\n> Note: ${w}.`),
    '',
  ].join('\n');
}

/**
 * Before against several after reports (one fine-tuning run per seed): each
 * metric's after values, their mean ± sample sd, and the mean's change in
 * points. Metrics are in percent, as reports are read.
 */
export interface SpreadComparison {
  before: LoadedReport;
  afters: LoadedReport[];
  /** A column heading per after report (e.g. `seed 42`). */
  labels: string[];
  rows: Array<{ label: string; before?: number; spread: MetricSpread; delta?: number }>;
  warnings: string[];
}

export function compareReportSpread(
  before: LoadedReport,
  afters: readonly LoadedReport[],
  labels: readonly string[] = afters.map((_, i) => `after ${i + 1}`),
): SpreadComparison {
  if (labels.length !== afters.length)
    throw new Error(`${labels.length} label(s) for ${afters.length} after report(s)`);
  const spreads = metricSpreads(afters.map((a) => a.metrics));
  const rows = comparisonRows(before.metrics, Object.fromEntries(spreads.map((s) => [s.metric, s.mean]))).flatMap(
    (r) => {
      const spread = spreads.find((s) => s.metric === r.metric);
      return spread
        ? [
            {
              label: r.label,
              ...(r.before !== undefined ? { before: r.before } : {}),
              spread,
              ...(r.delta !== undefined ? { delta: r.delta } : {}),
            },
          ]
        : [];
    },
  );
  const warnings: string[] = [];
  const sizes = new Set([before, ...afters].map((r) => r.numImages).filter((n) => n !== undefined));
  if (sizes.size > 1)
    warnings.push(
      `the reports cover different image sets (${[...sizes].join(', ')} images), so the numbers are not directly comparable`,
    );
  return { before, afters: [...afters], labels: [...labels], rows, warnings };
}

/** The before/after table with a column per after run, then mean ± sd (sample sd, n - 1) and the mean's delta. */
export function formatSpreadComparisonText(c: SpreadComparison): string {
  const n = c.afters.length;
  const header = ['Metric', 'Before', ...c.labels, `After (mean ± sd, n=${n})`, 'Delta (pts)'];
  const body = c.rows.map((r) => [
    r.label,
    cell(r.before),
    ...r.spread.values.map(cell),
    formatMeanSd(r.spread, 2, '%'),
    deltaCell(r.delta),
  ]);
  return [
    `Before: ${describe(c.before)}`,
    ...c.afters.map((a, i) => `${c.labels[i]}: ${describe(a)}`),
    '',
    ...alignedTable(header, body),
    ...c.warnings.map((w) => `\nNote: ${w}.`),
  ].join('\n');
}

export function formatSpreadComparisonMarkdown(c: SpreadComparison): string {
  return [
    `| Metric | Before | ${c.labels.join(' | ')} | After (mean ± sd, n=${c.afters.length}) | Δ (points) |`,
    `|---|---:|${c.labels.map(() => '---:|').join('')}---:|---:|`,
    ...c.rows.map(
      (r) =>
        `| ${r.label} | ${cell(r.before)} | ${r.spread.values.map(cell).join(' | ')} | ${formatMeanSd(r.spread, 2, '%')} | ${deltaCell(r.delta)} |`,
    ),
    ...c.warnings.map((w) => `\n> Note: ${w}.`),
    '',
  ].join('\n');
}
