/**
 * Benchmark and evaluation reports as the panel shows them, read with the
 * report reader the engine uses (src/shared/artifacts/reportFile.ts), which also
 * accepts reports written in percent. The panel works in fractions, like the
 * engine's events.
 */
import { readReport as readEngineReport } from '../../shared/artifacts/reportFile';
import * as path from 'node:path';
import * as fs from 'node:fs';
import type { ReportSummary, SeedSpreadData } from '../../shared/panelProtocol';
import { parseSeedSweep, SEED_SWEEP_FILE, SeedSweepFileError } from '../../shared/artifacts/seedSweepFile';
import type { RunState } from '../../shared/runState';
import type { RunOutputs } from './runFolder';

/** The two sides of the panel's comparison, and the seed sweep the run belongs to. */
export interface BeforeAfterReports {
  before?: ReportSummary;
  after?: ReportSummary;
  seedSpread?: SeedSpreadData;
}

/**
 * The seed sweep `runDir` is one run of: the parent folder's seed-sweep.json
 * when it lists this folder. Undefined when there is none; throws
 * SeedSweepFileError when the file is there and unreadable.
 */
export function readSeedSpread(runDir: string): SeedSpreadData | undefined {
  const file = path.join(path.dirname(path.resolve(runDir)), SEED_SWEEP_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const sweep = parseSeedSweep(text, file);
  const run = sweep.runs.find((r) => r.dir === path.basename(path.resolve(runDir)));
  if (!run || sweep.spread.length === 0) return undefined;
  return { file, seeds: sweep.seeds, thisSeed: run.seed, spread: sweep.spread };
}

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

/** The before/after reports that exist; unreadable ones become problems to show. */
export async function readReports(
  outputs: RunOutputs,
  state: RunState,
  runDir: string,
): Promise<{ reports: BeforeAfterReports; problems: string[] }> {
  const reports: BeforeAfterReports = {};
  const problems: string[] = [];
  for (const side of ['before', 'after'] as const) {
    const file = outputs[side];
    if (!file) continue;
    // Named like the run's own evaluations when the report is one of them.
    const epoch = state.evaluations.find((e) => e.reportPath && path.resolve(runDir, e.reportPath) === file)?.epoch;
    const label = epoch === 0 ? 'epoch 0, before training' : epoch !== undefined ? `epoch ${epoch}` : undefined;
    try {
      reports[side] = await readReport(file, label);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  try {
    const spread = readSeedSpread(runDir);
    if (spread) reports.seedSpread = spread;
  } catch (e) {
    if (!(e instanceof SeedSweepFileError)) throw e;
    problems.push(e.message);
  }
  return { reports, problems };
}
