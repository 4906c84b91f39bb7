/**
 * A cross-process lock on one blob download, so that two engines (two VS Code
 * windows, a training run and a benchmark) fetching the same model never
 * append to the same `.incomplete` file at once.
 *
 * The lock is a file created with O_EXCL holding its owner's pid, host and a
 * random token. The owner touches it every few seconds; a waiter breaks it
 * when the owner is a dead process on this host or the file went untouched
 * for `staleMs` (an owner on another host sharing the cache, since killed).
 *
 * Lock files are named `{etag}.vembed.lock` under huggingface_hub's `.locks/`
 * folder: its own `{etag}.lock` files are flock()ed and stay behind after use,
 * so their presence means nothing to an O_EXCL lock.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeDirs } from '../../shared/fs/makeDirs';
import { processAlive } from '../../shared/processAlive';
import { delay } from './http';

export interface LockOptions {
  signal?: AbortSignal;
  /** A lock untouched this long is abandoned. */
  staleMs?: number;
  /** How often the owner refreshes the lock's mtime. */
  refreshMs?: number;
  /** How often a waiter checks again. */
  pollMs?: number;
}

interface LockOwner {
  pid: number;
  host: string;
  token: string;
}

function readOwner(lockPath: string): LockOwner | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as Partial<LockOwner>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') return v as LockOwner;
  } catch {
    // Unreadable or half-written (the owner is between create and write): judged by its age alone.
  }
  return undefined;
}

function isStale(lockPath: string, staleMs: number): boolean {
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(lockPath).mtimeMs;
  } catch {
    return false; // gone already: the next create attempt will tell
  }
  const owner = readOwner(lockPath);
  if (owner && owner.host === os.hostname() && !processAlive(owner.pid)) return true;
  return Date.now() - mtimeMs > staleMs;
}

/**
 * Rename first so that only one waiter removes this particular file. A waiter
 * that judged the lock stale just before another broke and re-took it could
 * still remove the new one; the size and sha256 checks after download catch
 * what that narrow race could corrupt.
 */
function breakLock(lockPath: string): void {
  const aside = `${lockPath}.stale-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    fs.renameSync(lockPath, aside);
    fs.rmSync(aside, { force: true });
  } catch {
    // Another waiter broke it first.
  }
}

/** Run `fn` while holding the lock at `lockPath`; waits (without limit, unless aborted) for another owner to finish. */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  const refreshMs = options.refreshMs ?? Math.max(50, Math.floor(staleMs / 6));
  const pollMs = options.pollMs ?? 200;
  makeDirs(path.dirname(lockPath));
  const me: LockOwner = { pid: process.pid, host: os.hostname(), token: Math.random().toString(36).slice(2) };

  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      try {
        fs.writeSync(fd, JSON.stringify(me));
      } finally {
        fs.closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
    if (isStale(lockPath, staleMs)) breakLock(lockPath);
    else await delay(pollMs, options.signal);
  }

  const refresher = setInterval(() => {
    const now = new Date();
    try {
      fs.utimesSync(lockPath, now, now);
    } catch {
      // Broken by a waiter that judged us stale; nothing useful to do mid-download.
    }
  }, refreshMs);
  refresher.unref();
  try {
    return await fn();
  } finally {
    clearInterval(refresher);
    if (readOwner(lockPath)?.token === me.token) fs.rmSync(lockPath, { force: true });
  }
}
