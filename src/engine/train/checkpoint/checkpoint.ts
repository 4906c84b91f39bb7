/**
 * Checkpoint folders: `output_dir/checkpoint-step-N` and
 * `checkpoint-epoch-E`, each holding the model's files (written by the
 * model code through `writeModel`), `optimizer.safetensors` and
 * `trainer_state.json`.
 *
 * A checkpoint is written whole into a temporary folder and renamed into
 * place (writeDirAtomic), so a run killed at any moment leaves the earlier
 * checkpoints as they were. `trainer_state.json` is written last and lists
 * every other file with its size; a folder whose listing does not match
 * (copied in part, damaged) is not taken for a checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDirAtomic } from '../../../shared/fs/atomic';
import { removeStaleTempsIn } from '../../../shared/fs/outputPath';
import type { OptimizerState } from '../optim/adamw';
import { OPTIMIZER_FILE, readOptimizerState, writeOptimizerState, type OptimizerHyper } from './optimizerFile';
import {
  parseTrainerState,
  serializeTrainerState,
  TRAINER_STATE_FILE,
  type TrainerState,
  type TrainerStateFile,
} from './trainerState';

export type CheckpointKind = 'step' | 'epoch';

const NAME_PATTERN = /^checkpoint-(step|epoch)-(\d+)$/;

/** `checkpoint-step-N` (N = global step) or `checkpoint-epoch-E` (E = 1 for the end of the first epoch). */
export function checkpointName(kind: CheckpointKind, n: number): string {
  if (!(Number.isSafeInteger(n) && n >= 0)) throw new Error(`A checkpoint number must be an integer >= 0, got ${n}.`);
  return `checkpoint-${kind}-${n}`;
}

export function parseCheckpointName(name: string): { kind: CheckpointKind; n: number } | undefined {
  const m = NAME_PATTERN.exec(name);
  return m ? { kind: m[1] as CheckpointKind, n: Number(m[2]) } : undefined;
}

export interface CheckpointContents {
  trainerState: TrainerState;
  optimizerState?: OptimizerState;
  optimizerHyper?: OptimizerHyper;
  /** Writes the model's files into the (temporary) checkpoint folder. */
  writeModel?: (dir: string) => void;
}

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

/** Sizes of every file under `dir` by '/'-separated relative path. */
function fileSizes(dir: string, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) Object.assign(out, fileSizes(full, rel));
    else if (entry.isFile()) out[rel] = fs.statSync(full).size;
  }
  return out;
}

function writeFileSynced(file: string, text: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write `outputDir/name` atomically; an existing folder of that name is replaced. Returns its path. */
export function saveCheckpoint(outputDir: string, name: string, contents: CheckpointContents): string {
  if (!parseCheckpointName(name))
    throw new Error(`"${name}" is not a checkpoint name (checkpoint-step-N or checkpoint-epoch-E).`);
  const target = path.join(outputDir, name);
  writeDirAtomic(target, (tmp) => {
    contents.writeModel?.(tmp);
    if (contents.optimizerState)
      writeOptimizerState(path.join(tmp, OPTIMIZER_FILE), contents.optimizerState, contents.optimizerHyper);
    const files = fileSizes(tmp);
    if (TRAINER_STATE_FILE in files)
      throw new Error(`writeModel must not write ${TRAINER_STATE_FILE}; the checkpoint code writes it last.`);
    const state: TrainerStateFile = { ...contents.trainerState, files };
    writeFileSynced(path.join(tmp, TRAINER_STATE_FILE), serializeTrainerState(state));
  });
  return target;
}

/**
 * The trainer state of a complete checkpoint folder; throws CheckpointError
 * saying what is missing otherwise. Reads only the small JSON file.
 */
export function verifyCheckpoint(dir: string): TrainerStateFile {
  const stateFile = path.join(dir, TRAINER_STATE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(stateFile, 'utf8');
  } catch {
    throw new CheckpointError(`${dir}: no ${TRAINER_STATE_FILE}; not a complete vembed checkpoint.`);
  }
  let state: TrainerStateFile;
  try {
    state = parseTrainerState(text, stateFile);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  for (const [rel, size] of Object.entries(state.files)) {
    let actual: number;
    try {
      actual = fs.statSync(path.join(dir, ...rel.split('/'))).size;
    } catch {
      throw new CheckpointError(`${dir}: ${rel} is missing; the checkpoint is incomplete.`);
    }
    if (actual !== size)
      throw new CheckpointError(
        `${dir}: ${rel} has ${actual} bytes, expected ${size}; the checkpoint is incomplete or damaged.`,
      );
  }
  const parsed = parseCheckpointName(path.basename(dir));
  if (parsed?.kind === 'step' && parsed.n !== state.globalStep) {
    throw new CheckpointError(
      `${dir}: named for step ${parsed.n} but its ${TRAINER_STATE_FILE} says global_step ${state.globalStep}.`,
    );
  }
  return state;
}

export interface LoadedCheckpoint {
  dir: string;
  trainerState: TrainerStateFile;
  /** Absent when the checkpoint was saved without optimizer state. */
  optimizerState?: OptimizerState;
}

/** Verify a checkpoint and read its trainer and optimizer state (not the model: the model code loads that). */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const trainerState = verifyCheckpoint(dir);
  if (!(OPTIMIZER_FILE in trainerState.files)) return { dir, trainerState };
  return { dir, trainerState, optimizerState: readOptimizerState(path.join(dir, OPTIMIZER_FILE)) };
}

export interface CheckpointInfo {
  dir: string;
  name: string;
  kind: CheckpointKind;
  globalStep: number;
  trainerState: TrainerStateFile;
}

export interface CheckpointListing {
  /** Complete checkpoints, oldest (lowest global step) first. */
  complete: CheckpointInfo[];
  /** Folders named like checkpoints that are not complete, with the reason. */
  skipped: Array<{ dir: string; reason: string }>;
}

/** Every checkpoint folder of `outputDir` (temporary folders, which start with a dot, are not looked at). */
export function listCheckpoints(outputDir: string): CheckpointListing {
  const listing: CheckpointListing = { complete: [], skipped: [] };
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(outputDir, { withFileTypes: true });
  } catch {
    return listing;
  }
  for (const entry of entries) {
    const parsed = parseCheckpointName(entry.name);
    if (!parsed || !entry.isDirectory()) continue;
    const dir = path.join(outputDir, entry.name);
    try {
      const trainerState = verifyCheckpoint(dir);
      listing.complete.push({
        dir,
        name: entry.name,
        kind: parsed.kind,
        globalStep: trainerState.globalStep,
        trainerState,
      });
    } catch (e) {
      listing.skipped.push({ dir, reason: (e as Error).message });
    }
  }
  // By step; at the same step an epoch checkpoint sorts last (it is the later event: the epoch has ended).
  listing.complete.sort((a, b) => a.globalStep - b.globalStep || (a.kind === b.kind ? 0 : a.kind === 'epoch' ? 1 : -1));
  return listing;
}

/** The complete checkpoint with the highest global step, for `--resume`; undefined when there is none. */
export function findLatestCheckpoint(outputDir: string): CheckpointInfo | undefined {
  const { complete } = listCheckpoints(outputDir);
  return complete[complete.length - 1];
}

/**
 * Remove temporary checkpoint folders left by runs that were killed
 * (`.checkpoint-*.tmp-<pid>-*`, including replaced `.old` ones) whose process
 * is gone. Returns what was removed.
 */
export function removeStaleCheckpointTemps(outputDir: string): string[] {
  return removeStaleTempsIn(outputDir, (name) => /^checkpoint-(?:step|epoch)-\d+$/.test(name));
}
