/**
 * The summary of a seed sweep (`vembed train --seeds 42,1,2`): one training
 * run per seed, each in its own subfolder of the config's output_dir, and
 * this file beside them (`output_dir/seed-sweep.json`) with every run's final
 * evaluation and each metric's spread over the runs.
 *
 * Written by the engine, read by the results panel and the runs comparison.
 * No Node built-ins here (the panel's page reads these types); parsing takes
 * the text.
 */
import type { MetricSpread } from '../analysis/spread';

export const SEED_SWEEP_FILE = 'seed-sweep.json';
export const SEED_SWEEP_FORMAT = 'vembed-seed-sweep';
export const SEED_SWEEP_VERSION = 1;

/** The subfolder of the sweep folder that one seed's run goes to. */
export function seedRunDirName(seed: number): string {
  return `seed-${seed}`;
}

export interface SeedRunSummary {
  seed: number;
  /** The run's folder, relative to the sweep folder (`seed-42`). */
  dir: string;
  status: 'completed' | 'stopped' | 'failed';
  /** The run's last evaluation (on val_data_path); absent when it made none after training. */
  evaluation?: { epoch: number; step: number; split: string; metrics: Record<string, number> };
}

export interface SeedSweepSummary {
  format: typeof SEED_SWEEP_FORMAT;
  version: typeof SEED_SWEEP_VERSION;
  /** The config file the runs were trained from. */
  configFile: string;
  seeds: number[];
  runs: SeedRunSummary[];
  /**
   * Each metric's spread over the runs that completed with an evaluation, as
   * fractions in [0, 1] like the evaluations (`recall@1`, ..., `map@r`).
   */
  spread: MetricSpread[];
}

/** Why a seed-sweep.json could not be read. */
export class SeedSweepFileError extends Error {}

/** A seed-sweep.json's text, checked for the fields readers use. */
export function parseSeedSweep(text: string, file = SEED_SWEEP_FILE): SeedSweepSummary {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SeedSweepFileError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const v = value as Partial<SeedSweepSummary> | null;
  if (!v || typeof v !== 'object' || v.format !== SEED_SWEEP_FORMAT)
    throw new SeedSweepFileError(`${file}: not a seed-sweep summary (format is not "${SEED_SWEEP_FORMAT}")`);
  if (v.version !== SEED_SWEEP_VERSION)
    throw new SeedSweepFileError(
      `${file}: version ${String(v.version)}; this vembed reads version ${SEED_SWEEP_VERSION}`,
    );
  if (!Array.isArray(v.seeds) || !Array.isArray(v.runs) || !Array.isArray(v.spread))
    throw new SeedSweepFileError(`${file}: seeds, runs or spread missing`);
  for (const s of v.spread)
    if (typeof s?.metric !== 'string' || typeof s.mean !== 'number' || !(typeof s.sd === 'number' || s.sd === null))
      throw new SeedSweepFileError(`${file}: a spread entry lacks metric, mean or sd`);
  return v as SeedSweepSummary;
}
