/** Runs on disk (the engine writes every event to `<output_dir>/events.jsonl`) and their search index. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRun } from '../../shared/runs/runFolder';

// The run folder's reader lives in src/shared/runs (the CLI's `vembed compare` reads runs too).
export { EVENTS_FILE, readRun, readRunEvents, type RunOnDisk } from '../../shared/runs/runFolder';

/**
 * The search index of a run folder: named by its finished event, else
 * `index/` or `benchmark-sop/index/` in the folder, else in its checkpoints
 * (the latest first), where `vembed benchmark sop` of a checkpoint puts it.
 */
export function findRunIndex(dir: string): string | undefined {
  const isIndex = (d: string) => fs.existsSync(path.join(d, 'index.json'));
  const run = readRun(dir);
  const named = run?.state.outputs?.index;
  if (named && isIndex(named)) return named;
  const checkpoints = (run?.state.checkpoints ?? []).map((c) => c.path).reverse();
  for (const base of [dir, ...checkpoints]) {
    for (const sub of ['index', path.join('benchmark-sop', 'index')]) {
      const candidate = path.join(base, sub);
      if (isIndex(candidate)) return candidate;
    }
  }
  return undefined;
}
