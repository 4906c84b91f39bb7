/**
 * Atomic file writes: write a temporary file in the same folder, flush it, then
 * rename it over the target. A reader (or a run killed half-way) sees the old
 * file or the new one, never a torn one. Failures name the target the user
 * gave, never the temporary file, and leave no temporary file behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileSystemUserError, makeDirs } from './makeDirs';
import { refuseNonRegularTarget, STAGED_MARK } from './outputPath';

function tempName(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}${STAGED_MARK}${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  );
}

/** A file-system error as the user's error about `target`, else the error itself. */
function asTargetError(e: unknown, target: string): unknown {
  return fileSystemUserError(e, target) ?? e;
}

/**
 * A file written under a temporary name next to `target`, not yet in place:
 * `commit` renames it over the target, `discard` removes it.
 */
export interface StagedFile {
  readonly target: string;
  readonly tmp: string;
  commit(): void;
  discard(): void;
}

function staged(target: string, tmp: string): StagedFile {
  return {
    target,
    tmp,
    commit() {
      try {
        fs.renameSync(tmp, target);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        throw asTargetError(e, target);
      }
    },
    discard() {
      fs.rmSync(tmp, { force: true });
    },
  };
}

/** An open temporary file for `target` (checked first: see outputPath.ts). */
function openTemp(target: string): { tmp: string; fd: number } {
  refuseNonRegularTarget(target);
  makeDirs(path.dirname(target));
  const tmp = tempName(target);
  try {
    return { tmp, fd: fs.openSync(tmp, 'w') };
  } catch (e) {
    throw asTargetError(e, target);
  }
}

/** Flush and close the temporary file once `fill` has written it; on a failure remove it and say it of `target`. */
function closeTemp(target: string, tmp: string, fd: number, failure?: unknown): StagedFile {
  try {
    if (failure === undefined) fs.fsyncSync(fd);
  } catch (e) {
    failure = e;
  }
  fs.closeSync(fd);
  if (failure === undefined) return staged(target, tmp);
  fs.rmSync(tmp, { force: true });
  throw asTargetError(failure, target);
}

/** Write `target`'s bytes (streamed by `write` into the descriptor) under a temporary name, flushed. */
export function stageFileWith(target: string, write: (fd: number) => void): StagedFile {
  const { tmp, fd } = openTemp(target);
  try {
    write(fd);
  } catch (e) {
    return closeTemp(target, tmp, fd, e);
  }
  return closeTemp(target, tmp, fd);
}

/** Bytes per slice written between two looks at `signal`. */
const SLICE = 16 * 1024 * 1024;

/**
 * Like stageFileWith for a list of chunks, giving the event loop a turn
 * between slices so a signal handler runs: once `signal` is aborted the
 * temporary file is removed and its reason thrown.
 */
export async function stageChunks(
  target: string,
  chunks: Iterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<StagedFile> {
  const { tmp, fd } = openTemp(target);
  try {
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.byteLength;) {
        at += fs.writeSync(fd, chunk, at, Math.min(SLICE, chunk.byteLength - at));
        await new Promise((resolve) => setImmediate(resolve));
        signal?.throwIfAborted();
      }
    }
  } catch (e) {
    return closeTemp(target, tmp, fd, e);
  }
  return closeTemp(target, tmp, fd);
}

/** Atomically write a file whose bytes `write` streams into the open descriptor (large files, no second copy). */
export function writeFileAtomicWith(target: string, write: (fd: number) => void): void {
  stageFileWith(target, write).commit();
}

export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  writeFileAtomicWith(target, (fd) => {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let at = 0; at < bytes.byteLength;) at += fs.writeSync(fd, bytes, at);
  });
}

export function writeJsonAtomic(target: string, value: unknown): void {
  writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Write a whole folder atomically: `fill` writes into a fresh temporary
 * folder next to `target`, which is then renamed into place. An existing
 * `target` is replaced only after the new one is complete.
 */
export function writeDirAtomic(target: string, fill: (tmpDir: string) => void): void {
  makeDirs(path.dirname(target));
  const tmp = tempName(target);
  try {
    fs.mkdirSync(tmp);
  } catch (e) {
    throw asTargetError(e, target);
  }
  try {
    fill(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (fs.existsSync(target)) {
    const old = tempName(target) + '.old';
    fs.renameSync(target, old);
    fs.renameSync(tmp, target);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, target);
  }
}
