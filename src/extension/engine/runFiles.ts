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
    return { dir, state: state.status === 'running' || state.status === 'starting' ? { ...state, status: 'stopped' } : state, mtimeMs: stat.mtimeMs };
  } catch {
    return undefined;
  }
}
