/**
 * The before/after table of two benchmark reports: metric, before, after,
 * and the change in percentage points.
 *
 * Reports hold fractions in [0, 1] (ours); a report whose metric values go
 * above 1 is read as already in percent (some tools write 55.01 for 55.01%).
 */
import * as fs from 'node:fs';
import { metricKeys } from './sopReport';
import { comparisonRows, type ComparisonRow as SharedComparisonRow } from '../../shared/metrics';

export interface LoadedReport {
  file: string;
  /** Metric values in percent. */
  metrics: Record<string, number>;
  model?: string;
  numImages?: number;
  numValidQueries?: number;
}

export class ReportError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly hint?: string,
  ) {
    super(`${file}: ${message}`);
  }
}

export function parseReport(text: string, file: string): LoadedReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ReportError(
      file,
      `not valid JSON (${(e as Error).message})`,
      'Pass the sop_report.json a benchmark run wrote.',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ReportError(
      file,
      'expected a JSON object with metrics such as "recall@1"',
      'Pass the sop_report.json a benchmark run wrote.',
    );
  }
  const report = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(report)) {
    if ((/^recall@\d+$/.test(k) || k === 'map@r') && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new ReportError(file, `"${k}" must be a non-negative number, found ${JSON.stringify(v)}`);
    }
  }
  const keys = metricKeys(report);
  if (keys.length === 0) {
    throw new ReportError(
      file,
      'no metrics found (expected keys like "recall@1", "recall@10", "map@r")',
      'Pass the sop_report.json a benchmark run wrote.',
    );
  }
  const inPercent = keys.some((k) => (report[k] as number) > 1);
  const metrics: Record<string, number> = {};
  for (const k of keys) {
    const v = report[k] as number;
    if (inPercent && v > 100) throw new ReportError(file, `"${k}" is ${v}, above 100%`);
    metrics[k] = inPercent ? v : v * 100;
  }
  return {
    file,
    metrics,
    ...(typeof report.model === 'string' ? { model: report.model } : {}),
    ...(typeof report.num_images === 'number' ? { numImages: report.num_images } : {}),
    ...(typeof report.num_valid_queries === 'number' ? { numValidQueries: report.num_valid_queries } : {}),
  };
}

export function readReport(file: string): LoadedReport {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ReportError(
        file,
        'report not found',
        'Run `vembed benchmark sop` first; it writes sop_report.json in its output folder.',
      );
    if (code === 'EISDIR')
      throw new ReportError(file, 'is a folder, not a report', 'Pass the sop_report.json file inside it.');
    throw new ReportError(file, `cannot read (${(e as Error).message})`);
  }
  return parseReport(text, file);
}

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
