/**
 * What an earlier `vembed train` left in an output folder, so a new run does
 * not silently replace its checkpoints and evaluations: `train` refuses such a
 * folder unless told to continue the run (`--resume`) or replace it
 * (`--overwrite`, which removes exactly the files a run writes).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseEventLine } from '../../shared/protocol';
import { EVENTS_FILE } from './eventLog';
import { LATEST_EVAL_DIR } from './evaluation';

const CHECKPOINT = /^checkpoint-(step|epoch)-\d+$/;
const EVAL_REPORT = /^eval-epoch-\d+\.json$/;
/** TensorBoard's event files (report/tfEvents.ts). */
const TF_EVENTS = /^events\.out\.tfevents\./;

export interface PreviousRun {
  /** Checkpoint folders, by name. */
  checkpoints: string[];
  /** How the last run ended, from events.jsonl's last `finished` event; undefined when it never said. */
  status?: 'completed' | 'stopped' | 'failed';
}

/** The earlier run in `outputDir`, or undefined when there is none (no checkpoint, no events). */
export function findPreviousRun(outputDir: string): PreviousRun | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(outputDir);
  } catch {
    return undefined;
  }
  const checkpoints = names.filter((n) => CHECKPOINT.test(n)).sort();
  let status: PreviousRun['status'];
  let events = false;
  try {
    const text = fs.readFileSync(path.join(outputDir, EVENTS_FILE), 'utf8');
    for (const line of text.split('\n')) {
      const p = parseEventLine(line);
      if (p.kind !== 'event') continue;
      events = true;
      if (p.event.type === 'finished') status = p.event.status;
    }
  } catch {
    // no events file
  }
  if (checkpoints.length === 0 && !events) return undefined;
  return { checkpoints, ...(status ? { status } : {}) };
}

/** Whether the run left something worth keeping: a checkpoint, or a completed run's results. */
export function isWorthKeeping(run: PreviousRun): boolean {
  return run.checkpoints.length > 0 || run.status === 'completed';
}

/** One line for a message: "a completed run (2 checkpoints, the last checkpoint-epoch-2)". */
export function describePreviousRun(run: PreviousRun): string {
  const what =
    run.status === 'completed'
      ? 'a finished run'
      : run.status === 'stopped'
        ? 'a stopped run'
        : run.status === 'failed'
          ? 'a failed run'
          : 'an earlier run';
  const ckpts =
    run.checkpoints.length === 0
      ? 'no checkpoint'
      : `${run.checkpoints.length} checkpoint(s), e.g. ${run.checkpoints.at(-1)}`;
  return `${what} (${ckpts})`;
}

/**
 * Remove what a run writes (checkpoints, events.jsonl, TensorBoard's event files, eval-epoch-E.json, eval-latest/);
 * nothing else in the folder.
 */
export function clearPreviousRun(outputDir: string): number {
  let removed = 0;
  for (const name of fs.readdirSync(outputDir)) {
    if (
      CHECKPOINT.test(name) ||
      EVAL_REPORT.test(name) ||
      TF_EVENTS.test(name) ||
      name === EVENTS_FILE ||
      name === LATEST_EVAL_DIR
    ) {
      fs.rmSync(path.join(outputDir, name), { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}
