/**
 * Benchmark and evaluation reports as the panel shows them, read with the
 * engine's own report reader (src/engine/retrieval/compare.ts), which also
 * accepts reports written in percent. The panel works in fractions, like the
 * engine's events.
 */
import { readReport as readEngineReport } from '../../shared/artifacts/reportFile';
import type { ReportSummary } from '../../shared/panelProtocol';

/** `label` names the model measured; without one, the report's own `model`, else the file. */
export async function readReport(file: string, label?: string): Promise<ReportSummary> {
  const r = readEngineReport(file);
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.metrics)) metrics[k] = v / 100;
  return {
    label: label ?? r.model ?? file,
    metrics,
    path: file,
    ...(r.numImages !== undefined ? { numImages: r.numImages } : {}),
    ...(r.numValidQueries !== undefined ? { numValidQueries: r.numValidQueries } : {}),
  };
}
