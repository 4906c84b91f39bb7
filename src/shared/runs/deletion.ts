/**
 * Deleting a run removes what the run wrote and nothing else: its
 * events.jsonl, the checkpoints and evaluation reports its events list, the
 * outputs its `finished` event names, and the files a training run always
 * writes beside them (eval-latest/, eval-before/, data-health.json,
 * hard-negatives.json when it mined, its TensorBoard event files). A notebook, a config or images the
 * user keeps in the same folder stay; the folder goes only when nothing is
 * left in it. Nothing outside the run folder is ever touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../userError';
import { DATA_HEALTH_FILE } from '../artifacts/dataHealthFile';
import {
  BEFORE_EVAL_DIR,
  EVENTS_FILE,
  HARD_NEGATIVES_FILE,
  LATEST_EVAL_DIR,
  readRun,
  runLockHolder,
} from './runFolder';

export interface RunDeletionPlan {
  runDir: string;
  /** Absolute paths that exist and will be removed (files and whole folders), sorted. */
  remove: string[];
  /** Names in the run folder that stay (the run did not write them). */
  keep: string[];
}

/** The TensorBoard event files `vembed train` writes beside events.jsonl (src/engine/report/tfEvents.ts). */
const TF_EVENTS_FILE = /^events\.out\.tfevents\./;

/** The entry of `runDir` that `p` lies in (its first path part below the folder), or undefined when outside. */
function topEntry(runDir: string, p: string): string | undefined {
  const rel = path.relative(runDir, path.resolve(runDir, p));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep)[0];
}

/**
 * What deleting the run in `runDir` removes and keeps. Whole top-level entries
 * are removed (a checkpoint folder with the benchmark Evaluate wrote into it,
 * eval-latest/ with its index), never a part of a folder the run did not make.
 */
export function planRunDeletion(runDir: string): RunDeletionPlan {
  const dir = path.resolve(runDir);
  const run = readRun(dir);
  if (!run) throw new UserError(`${dir} is not a vembed run folder: it has no ${EVENTS_FILE}`);
  const s = run.state;
  const written = new Set<string>([EVENTS_FILE]);
  const add = (p: string | undefined) => {
    const top = p === undefined ? undefined : topEntry(dir, p);
    if (top !== undefined) written.add(top);
  };
  for (const c of s.checkpoints) add(c.path);
  for (const e of s.evaluations) add(e.reportPath);
  for (const p of Object.values(s.outputs ?? {})) add(p);
  if (s.command === 'train') {
    if (s.evaluations.length > 0) {
      written.add(LATEST_EVAL_DIR);
      written.add(BEFORE_EVAL_DIR);
    }
    written.add(DATA_HEALTH_FILE);
    if (s.config?.hard_negative_mining === true) written.add(HARD_NEGATIVES_FILE);
  }
  const entries = fs.readdirSync(dir);
  // TensorBoard event files: one per training process, named by time, host and pid, so found by their prefix.
  if (s.command === 'train') for (const n of entries) if (TF_EVENTS_FILE.test(n)) written.add(n);
  return {
    runDir: dir,
    remove: entries
      .filter((n) => written.has(n))
      .map((n) => path.join(dir, n))
      .sort(),
    keep: entries.filter((n) => !written.has(n)).sort(),
  };
}

/**
 * Carries out a plan: refuses while a process holds the run's lock (a run in
 * progress), removes the listed entries, then the folder if it is empty.
 * Returns whether the folder itself was removed.
 */
export function deleteRun(plan: RunDeletionPlan): boolean {
  const pid = runLockHolder(plan.runDir);
  if (pid !== undefined)
    throw new UserError(
      `the run in ${plan.runDir} is still in progress (pid ${pid})`,
      'Stop it first (vembed: Stop Training, or Ctrl+C in its terminal), then delete it.',
      'run-in-progress',
    );
  for (const p of plan.remove) fs.rmSync(p, { recursive: true, force: true });
  if (fs.readdirSync(plan.runDir).length > 0) return false;
  fs.rmdirSync(plan.runDir);
  return true;
}
