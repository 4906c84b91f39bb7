/**
 * A run folder as every reader sees it (the Runs view, the run history, the
 * results panel, `vembed compare`): its events.jsonl folded with the shared
 * reducer, plus what the reducer does not keep (each epoch's mean loss, the
 * last event's time) and whether the run is still going, which only the
 * folder's lock file can tell once the process is not ours.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseEventLine, type EngineEvent } from '../protocol';
import { initialRunState, reduceRun, type RunState } from '../runState';
import { processAlive } from '../processAlive';

/** Every event a run emits, one JSON line each, in its output folder. */
export const EVENTS_FILE = 'events.jsonl';
/** One run per output folder: this file holds the owner's pid while the run lasts (src/engine/run/runLock.ts). */
export const RUN_LOCK_FILE = '.vembed-run.lock';
/** Folders a training run's evaluations write beside its events (src/engine/run/evaluation.ts). */
export const LATEST_EVAL_DIR = 'eval-latest';
export const BEFORE_EVAL_DIR = 'eval-before';
/** A run with hard_negative_mining keeps its mined neighbours here, for --resume (engine/train/hardNegatives.ts). */
export const HARD_NEGATIVES_FILE = 'hard-negatives.json';

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
  /** The folded events; a run that ended without a `finished` event is `stopped` (or `failed` after an error). */
  state: RunState;
  /** Modification time of events.jsonl, newest runs first in lists. */
  mtimeMs: number;
  /** Mean training loss of each finished epoch, from the `epoch` events. */
  epochLosses: { epoch: number; value: number }[];
  /** Time of the last event (ISO-8601), for the duration of a run that never finished. */
  lastEventTime?: string;
  /** True while a process holds the folder's run lock (a run in progress, here or in a terminal). */
  running: boolean;
}

/** The pid of the live process holding `dir`'s run lock, or undefined (no lock, or a stale one). */
export function runLockHolder(dir: string): number | undefined {
  try {
    const pid = Number((JSON.parse(fs.readFileSync(path.join(dir, RUN_LOCK_FILE), 'utf8')) as { pid?: unknown }).pid);
    return pid > 0 && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Reads `dir/events.jsonl`; undefined when there is none (not a run folder). Bad lines are skipped. */
export function readRun(dir: string): RunOnDisk | undefined {
  const file = path.join(dir, EVENTS_FILE);
  let stat: fs.Stats;
  let events: EngineEvent[];
  try {
    stat = fs.statSync(file);
    events = readRunEvents(file);
  } catch {
    return undefined;
  }
  let state = initialRunState();
  const epochLosses: RunOnDisk['epochLosses'] = [];
  for (const e of events) {
    state = reduceRun(state, e);
    if (e.type === 'epoch') {
      // A resumed run may repeat an epoch it had not finished; the last word counts.
      const i = epochLosses.findIndex((p) => p.epoch === e.epoch);
      if (i >= 0) epochLosses.splice(i, 1);
      epochLosses.push({ epoch: e.epoch, value: e.meanLoss });
    }
  }
  const unfinished = state.status === 'running' || state.status === 'starting' || state.status === 'stopping';
  const running = unfinished && runLockHolder(dir) !== undefined;
  if (unfinished && !running) state = { ...state, status: state.error ? 'failed' : 'stopped' };
  const last = events[events.length - 1]?.time;
  return {
    dir,
    state,
    mtimeMs: stat.mtimeMs,
    epochLosses: epochLosses.sort((a, b) => a.epoch - b.epoch),
    ...(last ? { lastEventTime: last } : {}),
    running,
  };
}
