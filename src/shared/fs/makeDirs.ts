/**
 * Creating output folders without Node's `mkdirSync(..., { recursive: true })`,
 * which loops forever in native code where mkdir answers ENOENT for a folder
 * whose parent exists (under /proc): no signal handler runs, so Ctrl+C and
 * SIGTERM cannot stop it. Here each missing folder is made on its own, so
 * every failure ends in an error that names the folder.
 *
 * File-system failures a user can act on (no space, no permission, a file in
 * the way) become UserErrors that name the path and say what to do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../userError';

/** What each errno means for someone writing to `target`, and what to do. */
const ADVICE: Readonly<Record<string, (target: string) => [string, string]>> = {
  ENOSPC: (t) => [`no space left on the device holding ${t}`, 'Free some space, or write somewhere else.'],
  EDQUOT: (t) => [`disk quota exceeded writing ${t}`, 'Free some space, or write somewhere else.'],
  EACCES: (t) => [`permission denied: ${t}`, 'Choose a folder you can write to, or fix its permissions.'],
  EPERM: (t) => [`operation not permitted: ${t}`, 'Choose a folder you can write to (not under /proc or /sys).'],
  EROFS: (t) => [`${t} is on a read-only file system`, 'Choose a folder on a writable disk.'],
  ENOTDIR: (t) => [
    `${t}: a part of this path is a file, not a folder`,
    'Choose another path, or move the file out of the way.',
  ],
  EEXIST: (t) => [`${t} already exists and is not a folder`, 'Choose another path, or move the file out of the way.'],
  EISDIR: (t) => [`${t} is a folder, where a file was expected`, 'Choose another path.'],
  ENOENT: (t) => [
    `cannot create ${t}: the file system does not allow it`,
    'Choose a folder on an ordinary disk (not under /proc or /sys).',
  ],
  ENAMETOOLONG: (t) => [`${t}: the name is too long`, 'Choose a shorter path.'],
  EFBIG: (t) => [
    `${t} would exceed the largest file allowed here (the file system's limit, or ulimit -f)`,
    'Raise the limit, or write to another file system.',
  ],
  EIO: (t) => [`input/output error writing ${t}`, 'Check the disk (or network share), or write somewhere else.'],
  EMFILE: (t) => [
    `too many open files while writing ${t}`,
    'Raise the open-file limit (ulimit -n) or lower num_workers.',
  ],
};

/** The UserError for a file-system error a user can act on; undefined for anything else. */
export function fileSystemUserError(e: unknown, target?: string): UserError | undefined {
  const err = e as NodeJS.ErrnoException;
  const advice = err?.code ? ADVICE[err.code] : undefined;
  if (!advice) return undefined;
  const where = target ?? err.path ?? '(unknown path)';
  const [message, hint] = advice(where);
  return new UserError(
    `${message} (${err.code}${err.syscall ? ` in ${err.syscall}` : ''})`,
    hint,
    'file-system',
    where,
  );
}

function rethrow(e: unknown, target: string): never {
  throw fileSystemUserError(e, target) ?? e;
}

/**
 * Make `dir` and any missing parents. Throws a UserError naming the folder
 * when it cannot be made (a file in the way, no permission, /proc, no space).
 */
export function makeDirs(dir: string): void {
  const target = path.resolve(dir);
  const missing: string[] = [];
  let at = target;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a file further up; the walk reaches it and names it below.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') rethrow(e, at);
    }
    if (st) {
      if (!st.isDirectory()) {
        throw new UserError(
          `cannot create ${target}: ${at} is a file, not a folder`,
          'Choose another path, or move the file out of the way.',
          'file-system',
          at,
        );
      }
      break;
    }
    missing.push(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      rethrow(e, d);
    }
  }
}

/**
 * Check before any work that `dir` can be made and written: make it and
 * write and remove a small file there.
 */
export function checkWritableDir(dir: string): void {
  makeDirs(dir);
  const probe = path.join(dir, `.vembed-write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'ok');
    fs.rmSync(probe, { force: true });
  } catch (e) {
    rethrow(e, dir);
  }
}
