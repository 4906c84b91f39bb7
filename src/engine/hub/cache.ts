/**
 * Reading and writing the hub cache in huggingface_hub's layout:
 *
 *   models--{org}--{name}/
 *     refs/{revision}            the commit id the revision pointed to (no newline)
 *     blobs/{etag}               file contents, named by git sha1 or LFS sha256
 *     snapshots/{commit}/{file}  a relative symlink to ../../blobs/{etag}
 *     .no_exist/{commit}/{file}  an empty marker: the file does not exist at that commit
 *
 * Snapshot entries may also be plain files (caches made on Windows without
 * symlink rights, or copied with symlinks dereferenced); both are accepted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDirs } from '../../shared/fs/makeDirs';
import { writeFileAtomic } from '../../shared/fs/atomic';
import { isCommitHash, repoCacheDir, repoFilePath } from './paths';

export interface CacheLookup {
  /** `{cacheDir}/models--{org}--{name}`, whether or not it exists. */
  repoDir: string;
  /** The commit the revision resolves to, when the cache knows it. */
  commit?: string;
  /** The snapshot folder, when it exists. */
  folder?: string;
  /** Files of the asked list present in the snapshot (symlink to an existing blob, or a plain file). */
  present: string[];
  /** Required files absent from the snapshot. */
  missing: string[];
  /** Why nothing usable was found, in words, for error messages. */
  state: string;
}

/** Present means readable as a file: a symlink must reach an existing blob. */
export function isPresentFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function readRef(repoDir: string, revision: string): string | undefined {
  try {
    const text = fs.readFileSync(path.join(repoDir, 'refs', ...revision.split('/')), 'utf8').trim();
    return isCommitHash(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Look a revision up in the cache. A revision that is itself a commit id maps
 * straight to `snapshots/{commit}`; any other goes through `refs/{revision}`.
 */
export function lookupCache(
  cacheDir: string,
  repoId: string,
  revision: string,
  required: readonly string[],
  optional: readonly string[] = [],
): CacheLookup {
  const repoDir = repoCacheDir(cacheDir, repoId);
  const missingAll = [...required];
  if (!fs.existsSync(repoDir)) return { repoDir, present: [], missing: missingAll, state: `${repoDir} does not exist` };
  const commit = isCommitHash(revision) ? revision : readRef(repoDir, revision);
  if (!commit) {
    const snapshots = listSnapshots(repoDir);
    const known =
      snapshots.length > 0
        ? ` (it holds snapshots ${snapshots.slice(0, 3).join(', ')}${snapshots.length > 3 ? ', ...' : ''}: set the revision to one of them to use it)`
        : '';
    return { repoDir, present: [], missing: missingAll, state: `${repoDir} has no refs/${revision}${known}` };
  }
  const folder = path.join(repoDir, 'snapshots', commit);
  if (!fs.existsSync(folder))
    return { repoDir, commit, present: [], missing: missingAll, state: `${repoDir} has no snapshots/${commit}` };
  const present = [...required, ...optional].filter((f) => isPresentFile(repoFilePath(folder, f)));
  const missing = required.filter((f) => !present.includes(f));
  const state = missing.length === 0 ? `complete at ${folder}` : `${folder} lacks ${missing.join(', ')}`;
  return { repoDir, commit, folder, present, missing, state };
}

function listSnapshots(repoDir: string): string[] {
  try {
    return fs.readdirSync(path.join(repoDir, 'snapshots')).filter(isCommitHash).sort();
  } catch {
    return [];
  }
}

/** Whether huggingface_hub (or this module) recorded that `file` does not exist at `commit`. */
export function isMarkedMissing(repoDir: string, commit: string, file: string): boolean {
  return fs.existsSync(repoFilePath(path.join(repoDir, '.no_exist', commit), file));
}

export function markMissing(repoDir: string, commit: string, file: string): void {
  const marker = repoFilePath(path.join(repoDir, '.no_exist', commit), file);
  try {
    makeDirs(path.dirname(marker));
    fs.closeSync(fs.openSync(marker, 'a'));
  } catch {
    // Only an optimisation for later look-ups; a read-only cache must not fail the run.
  }
}

/** Record where a branch or tag pointed; a commit id needs no ref. Rewritten only when it changed. */
export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (revision === commit) return;
  if (readRef(repoDir, revision) === commit) return;
  writeFileAtomic(path.join(repoDir, 'refs', ...revision.split('/')), commit);
}

export function blobPath(repoDir: string, etag: string): string {
  return path.join(repoDir, 'blobs', etag);
}

function tempSibling(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
  );
}

/**
 * Put `blob` into a snapshot as `pointer`: a relative symlink (huggingface_hub's
 * layout, survives moving the cache), else a hard link (Windows without
 * symlink rights; no extra disk), else a copy. Built under a temporary name
 * and renamed into place, so a reader never sees a half-made entry and two
 * processes doing the same thing both succeed.
 */
export function linkIntoSnapshot(blob: string, pointer: string): 'symlink' | 'hardlink' | 'copy' {
  makeDirs(path.dirname(pointer));
  const tmp = tempSibling(pointer);
  let how: 'symlink' | 'hardlink' | 'copy';
  try {
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), tmp, 'file');
    how = 'symlink';
  } catch {
    try {
      fs.linkSync(blob, tmp);
      how = 'hardlink';
    } catch {
      fs.copyFileSync(blob, tmp);
      how = 'copy';
    }
  }
  try {
    fs.renameSync(tmp, pointer);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return how;
}
