/**
 * Where an image path in a data file points. Paths are relative to the image
 * root; one that is absolute or climbs out of the root (`../x.jpg`) is refused
 * unless the config allows it, so a data file cannot make the engine read
 * arbitrary files.
 */
import * as path from 'node:path';

export type ResolvedImagePath = { ok: true; path: string } | { ok: false; message: string };

const WINDOWS_ABSOLUTE = /^(?:[A-Za-z]:[\\/]|\\\\)/;

/**
 * Resolve `raw` against `imageRoot`. Backslashes are read as folder
 * separators, so files written on Windows work elsewhere. Symbolic links are
 * not followed: the check is on the path as written.
 */
export function resolveImagePath(raw: string, imageRoot: string, allowOutsideRoot: boolean): ResolvedImagePath {
  const trimmed = raw.trim();
  if (trimmed === '') return { ok: false, message: 'empty image path' };
  const absoluteAsWritten = path.isAbsolute(trimmed) || WINDOWS_ABSOLUTE.test(trimmed);
  const portable = path.sep === '/' && !WINDOWS_ABSOLUTE.test(trimmed) ? trimmed.replace(/\\/g, '/') : trimmed;
  if (absoluteAsWritten && !allowOutsideRoot) {
    return {
      ok: false,
      message: `absolute path \`${raw}\` refused: paths must be relative to the image root (set allow_absolute_paths: true to allow them)`,
    };
  }
  const abs = path.resolve(imageRoot, portable);
  if (!allowOutsideRoot) {
    const rel = path.relative(imageRoot, abs);
    if (rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) {
      return {
        ok: false,
        message: `path \`${raw}\` leaves the image root ${imageRoot} (set allow_absolute_paths: true to allow it)`,
      };
    }
  }
  return { ok: true, path: abs };
}
