/**
 * The before/after table of two benchmark reports: metric, before, after,
 * and the change in percentage points.
 * Reading a report file is src/shared/artifacts/reportFile.ts.
 */
import { comparisonRows, type ComparisonRow as SharedComparisonRow } from '../../shared/metrics';
import type { LoadedReport } from '../../shared/artifacts/reportFile';

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
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ');
  return [
    `Before: ${describe(c.before)}`,
    `After:  ${describe(c.after)}`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
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
