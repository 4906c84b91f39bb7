/**
 * A run folder as the panel reads it: the events (folded with the shared
 * reducer), and where its reports and neighbours file are.
 *
 * Reading keeps going past bad lines and reports them with their line numbers:
 * a run killed mid-write leaves a torn last line, and the panel should still
 * show everything before it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseEventLine } from '../../shared/protocol';
import { initialRunState, reduceRun, type RunState } from '../../shared/runState';
import { EVENTS_FILE } from '../engineClient/runFiles';

/** Where a benchmark's neighbours may be, relative to a run folder or a checkpoint in it, when no event names them. */
export const NEIGHBOURS_FILE_NAMES = ['neighbours.json', path.join('benchmark-sop', 'neighbours.json')];

/** The report a benchmark folder holds (src/engine/retrieval/sopReport.ts). */
export const BENCHMARK_REPORT = 'sop_report.json';

/** Problems listed one by one; past this, a count. */
const MAX_LISTED_PROBLEMS = 5;

export interface LoadedRun {
  runDir: string;
  state: RunState;
  problems: string[];
  /** False when the folder has no events.jsonl (yet). */
  found: boolean;
}

export async function loadRunFolder(runDir: string): Promise<LoadedRun> {
  const file = path.join(runDir, EVENTS_FILE);
  if (!fs.existsSync(file)) {
    return {
      runDir,
      state: initialRunState(),
      problems: [`${file} does not exist: not a vembed run folder, or the run has not written its first event yet.`],
      found: false,
    };
  }
  let state = initialRunState();
  const bad: string[] = [];
  let unknownTypes = 0;
  let lineNo = 0;
  const lines = readline.createInterface({
    input: fs.createReadStream(file, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    const parsed = parseEventLine(line);
    if (parsed.kind === 'event') state = reduceRun(state, parsed.event);
    else if (parsed.kind === 'unknown-event') unknownTypes++;
    else bad.push(`${file}:${lineNo}: ${parsed.reason}; line skipped`);
  }
  const problems = bad.slice(0, MAX_LISTED_PROBLEMS);
  if (bad.length > MAX_LISTED_PROBLEMS)
    problems.push(`${file}: ${bad.length - MAX_LISTED_PROBLEMS} more bad line(s) skipped`);
  // Events of a newer engine are skipped on purpose (see src/shared/protocol.ts); say so once.
  if (unknownTypes > 0)
    problems.push(
      `${file}: ${unknownTypes} event(s) of types this version does not know were skipped (a newer engine wrote them).`,
    );
  if (state.status === 'running' || state.status === 'starting' || state.status === 'stopping') {
    // Same rule as the run history: no `finished` event and no process here means interrupted.
    problems.push(
      `The events end without a "finished" event: the run was interrupted, or it is still running outside VS Code (reopen the panel to refresh).`,
    );
    state = { ...state, status: 'stopped' };
  }
  return { runDir, state, problems, found: true };
}

export interface RunOutputs {
  /** Report of the model before training (epoch 0). */
  before?: string;
  /** Report of the model after training (the last epoch). */
  after?: string;
  neighbours?: string;
}

/**
 * Where the run's reports and neighbours file are: named by the events
 * (evaluation `reportPath`, finished `outputs`), else found by name: in the
 * folder itself (a benchmark's output folder), then in its checkpoints, the
 * latest first (the Evaluate command benchmarks a checkpoint into
 * `<checkpoint>/benchmark-sop`). Relative paths are relative to the run
 * folder. Only existing files are returned.
 */
export function locateRunOutputs(runDir: string, state: RunState): RunOutputs {
  const resolve = (p: string | undefined): string | undefined => {
    if (!p) return undefined;
    const abs = path.isAbsolute(p) ? p : path.join(runDir, p);
    return fs.existsSync(abs) ? abs : undefined;
  };
  const outputs = state.outputs ?? {};
  const split = state.evaluations[state.evaluations.length - 1]?.split;
  const evals = state.evaluations.filter((e) => e.split === split);
  const first = evals.find((e) => e.epoch === 0);
  const last = [...evals].reverse().find((e) => e.epoch > 0);
  const before = resolve(outputs.report_before) ?? resolve(first?.reportPath);
  // A benchmark folder's own report is an "after" without a "before".
  const after =
    resolve(outputs.report_after) ??
    resolve(last?.reportPath) ??
    resolve(outputs.report) ??
    (evals.length === 0 ? resolve(BENCHMARK_REPORT) : undefined);
  const folders = [runDir, ...[...state.checkpoints].reverse().map((c) => c.path)];
  const neighbours =
    resolve(outputs.neighbours) ??
    folders
      .flatMap((f) => NEIGHBOURS_FILE_NAMES.map((n) => resolve(path.join(path.resolve(runDir, f), n))))
      .find((p) => p !== undefined);
  return {
    ...(before ? { before } : {}),
    ...(after && after !== before ? { after } : {}),
    ...(neighbours ? { neighbours } : {}),
  };
}
