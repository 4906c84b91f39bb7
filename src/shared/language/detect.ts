/**
 * Which YAML files are vembed training configs. Matching by name (configurable
 * globs) or by content (a top-level `model_name` together with `loss_type` or
 * `retrieval_mode`), so that other YAML files are left alone.
 */

export const DEFAULT_CONFIG_GLOBS: readonly string[] = ['**/*_i2i.yaml', '**/vembed*.yaml'];

/** Translate a glob (`**`, `*`, `?`, `{a,b}`) into a RegExp over '/'-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches any number of folders, including none.
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map(escape)
          .join('|')})`;
        i = end;
      }
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

function escape(s: string): string {
  return s.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}

/** Top-level keys of a YAML text, by a cheap line scan (no full parse). */
function topLevelKeys(text: string): Set<string> {
  const keys = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z_][\w-]*)\s*:/.exec(line);
    if (m) keys.add(m[1]!);
  }
  return keys;
}

/**
 * Whether a file is a training config. `relativePath` is the path inside the
 * workspace with '/' separators; a bare file name matches `**` globs too.
 */
export function isTrainingConfig(
  relativePath: string,
  text: string,
  globs: readonly string[] = DEFAULT_CONFIG_GLOBS,
): boolean {
  const p = relativePath.replace(/\\/g, '/');
  if (!/\.ya?ml$/i.test(p)) return false;
  if (globs.some((g) => globToRegExp(g).test(p))) return true;
  const keys = topLevelKeys(text);
  return keys.has('model_name') && (keys.has('loss_type') || keys.has('retrieval_mode'));
}
