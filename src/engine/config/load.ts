/** Load a training config file for the engine: validate, merge overrides, resolve paths. */
import * as fs from 'node:fs';
import { loadConfigText, type Diagnostic } from '../../shared/config/validate';
import { UserError } from '../../shared/userError';
import { diagnoseConfig } from '../../shared/language/diagnostics';
import { resolveConfigPath, type FileProbe } from '../../shared/config/workspaceChecks';
import { CONFIG_KEYS, type KeySpec, type TrainConfig } from '../../shared/config/schema';

export const nodeFileProbe: FileProbe = {
  kind(p) {
    try {
      const st = fs.statSync(p);
      return st.isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  },
};

export interface LoadedConfigFile {
  file: string;
  /** Undefined when a diagnostic is an error. */
  config?: TrainConfig;
  diagnostics: Diagnostic[];
}

function readText(file: string): string {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    // reported by the read below
  }
  // A named pipe or a device would block the read in a system call, where Ctrl+C cannot stop it.
  if (st && !st.isFile())
    throw new UserError(
      `${file} is ${st.isDirectory() ? 'a folder' : 'not a regular file'}, not a config file`,
      'Give the path of a YAML config file.',
      'config',
      file,
    );
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT' ? `config file not found: ${file}` : `cannot read config file ${file}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** Everything `vembed validate` reports: schema checks plus checks against the file system. */
export function validateConfigFile(file: string, baseDir: string = process.cwd()): Diagnostic[] {
  return diagnoseConfig(readText(file), baseDir, nodeFileProbe);
}

/**
 * Defaults < file < `--set` overrides, with path keys made absolute against
 * `baseDir`, the working directory (see PATH_BASE_NOTE in the schema).
 */
export function loadConfigFile(
  file: string,
  overrides: readonly string[] = [],
  baseDir: string = process.cwd(),
): LoadedConfigFile {
  const text = readText(file);
  const loaded = loadConfigText(text, overrides);
  if (!loaded.config) return { file, diagnostics: loaded.diagnostics };
  const config = { ...loaded.config };
  for (const spec of CONFIG_KEYS as readonly KeySpec[]) {
    const v = (config as Record<string, unknown>)[spec.key];
    if (spec.type === 'path' && typeof v === 'string')
      (config as Record<string, unknown>)[spec.key] = resolveConfigPath(v, baseDir);
  }
  // A local model folder is resolved like a path; a hub id stays as it is.
  const modelPath = resolveConfigPath(config.model_name, baseDir);
  if (nodeFileProbe.kind(modelPath) === 'dir') config.model_name = modelPath;
  return { file, config, diagnostics: loaded.diagnostics };
}
