/**
 * A benchmark report file (sop_report.json): metric values by key
 * ("recall@1", "recall@10", ..., "map@r"), plus the model and image counts.
 *
 * Reports hold fractions in [0, 1] (ours); a report whose metric values go
 * above 1 is read as already in percent (some tools write 55.01 for 55.01%).
 * Read by the engine (benchmark compare) and the results panel.
 */
import * as fs from 'node:fs';

/** Metric keys of a report, Recall@K by K then MAP@R. */
export function metricKeys(report: Record<string, unknown>): string[] {
  const recalls = Object.keys(report)
    .filter((k) => /^recall@\d+$/.test(k) && typeof report[k] === 'number')
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  return typeof report['map@r'] === 'number' ? [...recalls, 'map@r'] : recalls;
}

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
