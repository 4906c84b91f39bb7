/**
 * Atomic file writes: write a temporary file in the same folder, flush it, then
 * rename it over the target. A reader (or a run killed half-way) sees the old
 * file or the new one, never a torn one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDirs } from './makeDirs';

function tempName(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  );
}

/** Atomically write a file whose bytes `write` streams into the open descriptor (large files, no second copy). */
export function writeFileAtomicWith(target: string, write: (fd: number) => void): void {
  makeDirs(path.dirname(target));
  const tmp = tempName(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    write(fd);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, target);
}

export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  writeFileAtomicWith(target, (fd) => fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
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
  fs.mkdirSync(tmp);
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
