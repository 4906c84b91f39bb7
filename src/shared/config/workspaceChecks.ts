/**
 * Checks of a config against the file system: paths that don't exist, a
 * `model_name` that is neither a known hub id nor a model folder. The file
 * system is passed in, so the extension can use its own view (and tests a
 * plain object).
 */
import * as path from 'node:path';
import { KNOWN_MODEL_IDS } from './schema';
import type { ConfigEntry, Diagnostic } from './validate';

export interface FileProbe {
  /** 'file', 'dir', or undefined when nothing is there. */
  kind(absPath: string): 'file' | 'dir' | undefined;
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Resolve a config path value against the config file's folder. */
export function resolveConfigPath(value: string, baseDir: string): string {
  return path.isAbsolute(value) ? value : path.resolve(baseDir, value);
}

export function workspaceChecks(entries: readonly ConfigEntry[], baseDir: string, fs: FileProbe): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const e of entries) {
    const key = e.spec?.key;
    if (!key || typeof e.value !== 'string') continue;
    if (e.spec?.type === 'path' && key !== 'output_dir') {
      const abs = resolveConfigPath(e.value, baseDir);
      const kind = fs.kind(abs);
      const wantDir = key === 'image_root';
      if (kind === undefined) {
        out.push({
          severity: 'warning',
          code: 'path-missing',
          key,
          range: e.valueRange,
          message: `\`${key}\`: ${abs} does not exist (yet).${key === 'data_path' || key === 'val_data_path' ? ' For SOP, `vembed prepare-sop --sop_root DIR` writes train.jsonl and val.jsonl.' : ''}`,
        });
      } else if ((kind === 'dir') !== wantDir) {
        out.push({
          severity: 'error',
          code: 'wrong-type',
          key,
          range: e.valueRange,
          message: `\`${key}\`: ${abs} is a ${kind === 'dir' ? 'folder' : 'file'}, expected a ${wantDir ? 'folder' : 'file'}.`,
        });
      }
    }
    if (key === 'output_dir') {
      const problem = outputDirProblem(resolveConfigPath(e.value, baseDir), fs);
      if (problem)
        out.push({
          severity: 'error',
          code: 'wrong-type',
          key,
          range: e.valueRange,
          message: `\`output_dir\`: ${problem}`,
        });
    }
    if (key === 'model_name' && !KNOWN_MODEL_IDS.includes(e.value)) {
      const abs = resolveConfigPath(e.value, baseDir);
      if (fs.kind(abs) === 'dir') {
        if (fs.kind(path.join(abs, 'config.json')) !== 'file') {
          out.push({
            severity: 'error',
            code: 'wrong-type',
            key,
            range: e.valueRange,
            message: `\`model_name\`: the folder ${abs} has no config.json, so it is not a model folder.`,
          });
        }
      } else if (!HUB_ID.test(e.value)) {
        out.push({
          severity: 'error',
          code: 'wrong-type',
          key,
          range: e.valueRange,
          message: `\`model_name\`: "${e.value}" is neither a model folder nor a hub id (org/name). Known ids: ${KNOWN_MODEL_IDS.slice(0, 4).join(', ')}, ...`,
        });
      } else {
        out.push({
          severity: 'info',
          code: 'unknown-value',
          key,
          range: e.valueRange,
          message: `\`model_name\`: "${e.value}" is not a published DINOv2 id; it must be a DINOv2 model on the hub.`,
        });
      }
    }
  }
  return out;
}

/** Kernel file systems where no run folder can be made (mkdir there fails or, under /proc, never ends in Node). */
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

/** Why a run folder cannot be made at `abs`: a virtual file system, or a file where a folder must be. */
export function outputDirProblem(abs: string, fs: FileProbe): string | undefined {
  const posix = abs.replace(/\\/g, '/');
  const root = VIRTUAL_ROOTS.find((r) => posix === r || posix.startsWith(r + '/'));
  if (root)
    return `${abs} is under ${root}, a kernel file system where folders cannot be made. Choose a folder on a disk.`;
  // The nearest part of the path that exists must be a folder.
  for (let at = abs; ; at = path.dirname(at)) {
    const kind = fs.kind(at);
    if (kind === 'dir') return undefined;
    if (kind === 'file')
      return at === abs ? `${abs} is a file, not a folder.` : `${at} is a file, so ${abs} cannot be made.`;
    if (path.dirname(at) === at) return undefined;
  }
}
