/** Finished (or interrupted) runs on disk: the engine writes every event to `<output_dir>/events.jsonl`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseEventLine, type EngineEvent } from '../../shared/protocol';
import { foldRun, type RunState } from '../../shared/runState';

export const EVENTS_FILE = 'events.jsonl';

export function readRunEvents(file: string): EngineEvent[] {
  const events: EngineEvent[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
    const p = parseEventLine(line);
    if (p.kind === 'event') events.push(p.event);
  }
  return events;
}

export interface RunOnDisk {
  dir: string;
  state: RunState;
  /** Modification time of events.jsonl, newest runs first in lists. */
  mtimeMs: number;
}

export function readRun(dir: string): RunOnDisk | undefined {
  const file = path.join(dir, EVENTS_FILE);
  try {
    const stat = fs.statSync(file);
    const state = foldRun(readRunEvents(file));
    // A run whose process is gone without a `finished` event was interrupted.
    return {
      dir,
      state: state.status === 'running' || state.status === 'starting' ? { ...state, status: 'stopped' } : state,
      mtimeMs: stat.mtimeMs,
    };
  } catch {
    return undefined;
  }
}

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
