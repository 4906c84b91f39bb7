/**
 * The one rule for where a command may write a file. Files are written
 * atomically (atomic.ts): a temporary file renamed over the target. Renamed
 * over a device, a FIFO, a socket or a symlink, that would replace the node
 * itself (as root, `--analysis /dev/null` would replace the system's
 * /dev/null) or write nowhere the user meant; over a folder it fails late,
 * naming the temporary file. So every output path is checked before any
 * work, and again by the atomic writer itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../userError';
import { processAlive } from '../processAlive';

/** What marks a temporary name of the atomic writer: `.NAME.tmp-PID-RANDOM` (atomic.ts). */
export const STAGED_MARK = '.tmp-';

/** A temporary name of the atomic writer: `.TARGET.tmp-PID-RANDOM` (with `.old` after it for a replaced folder). */
const STAGED_NAME = /^\.(.+)\.tmp-(\d+)-[a-z0-9]+(?:\.old)?$/;

/**
 * Remove the temporary files and folders the atomic writer left in `dir` in a
 * run that was killed (kill -9, a crash) for targets `isOurs` accepts:
 * `.TARGET.tmp-PID-…` whose PID no longer runs. Live processes' temporaries stay.
 * Returns the names removed.
 */
export function removeStaleTempsIn(dir: string, isOurs: (target: string) => boolean): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed; // no folder yet: nothing stale
  }
  for (const name of names) {
    const m = STAGED_NAME.exec(name);
    if (!m || !isOurs(m[1]!)) continue;
    const pid = Number(m[2]);
    if (pid <= 0 || pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** removeStaleTempsIn for the temporaries of `target` itself. */
export function removeStaleTemps(target: string): void {
  void removeStaleTempsIn(path.dirname(target), (name) => name === path.basename(target));
}

/** What kind of file-system node `st` is, in words. */
function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Check that `file` may be written as a regular file: missing, or an existing
 * regular file. A device, FIFO, socket, folder, or a symlink (to anything) is
 * refused with a UserError naming `label` (the flag, e.g. `--analysis`) and
 * the path. Returns the absolute path.
 */
export function checkOutputFile(file: string, label?: string): string {
  const target = refuseNonRegularTarget(file, label);
  removeStaleTemps(target);
  return target;
}

/** checkOutputFile without the clean-up: what the atomic writer checks on every write. */
export function refuseNonRegularTarget(file: string, label?: string): string {
  const target = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return target; // new file (a file further up is makeDirs' to name)
    throw e;
  }
  if (st.isFile()) return target;
  const what = label ? `${label} ${file}` : target;
  if (st.isSymbolicLink()) {
    let to = 'a missing path';
    try {
      const real = fs.statSync(target);
      to = real.isFile() ? 'a regular file' : kindOf(real);
    } catch {
      // dangling: said as such
    }
    throw new UserError(
      `${what} is a symbolic link (to ${to}, ${safeReadLink(target)}); vembed writes a new regular file in its place, so it refuses links`,
      'Give the path of a regular file (or a new one), not a link.',
      'output-path',
      target,
    );
  }
  throw new UserError(
    `${what} is ${kindOf(st)}, not a regular file: refusing to write over it`,
    st.isDirectory()
      ? 'Give a file name (e.g. inside that folder), not the folder.'
      : 'Give the path of a regular file.',
    'output-path',
    target,
  );
}

function safeReadLink(p: string): string {
  try {
    return `-> ${fs.readlinkSync(p)}`;
  } catch {
    return 'unreadable';
  }
}

/**
 * Check that `dir` may be written as a folder of outputs: missing, or an
 * existing folder (not a symlink to one, not a file or device).
 */
export function checkOutputFolder(dir: string, label?: string): string {
  const target = path.resolve(dir);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return target;
    throw e;
  }
  if (st.isDirectory()) {
    removeStaleTemps(target);
    return target;
  }
  const what = label ? `${label} ${dir}` : target;
  if (st.isSymbolicLink()) {
    const real = (() => {
      try {
        return fs.statSync(target);
      } catch {
        return undefined;
      }
    })();
    if (real?.isDirectory()) return target; // a linked folder: its files are written inside it, the link stays
    throw new UserError(
      `${what} is a symbolic link (${safeReadLink(target)}) to ${real ? kindOf(real) : 'a missing path'}, not a folder`,
      'Give the path of a folder (or a new one).',
      'output-path',
      target,
    );
  }
  if (st.isFile()) return target; // a plain file where a folder goes: the command says what it expected
  throw new UserError(
    `${what} is ${kindOf(st)}, not a folder: refusing to write there`,
    'Give the path of a folder (or a new one).',
    'output-path',
    target,
  );
}
