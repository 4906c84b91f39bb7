/**
 * Which Python runs the torch engine, and whether it can: `--python`, else VEMBED_PYTHON, else the environment
 * `scripts/python/setup.sh` makes (${XDG_CACHE_HOME:-~/.cache}/vembed-pyenv), else python3 on PATH. Checked
 * once before any work, so a missing or broken environment is one line that says what to install.
 * (A stand-in until the doctor's probe of the environment, pythonEnv.ts, takes its place.)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../../shared/userError';

/** What the torch engine imports; the install hint names them. */
const REQUIRED = ['torch', 'transformers', 'peft', 'accelerate', 'safetensors', 'numpy'];
const INSTALL_HINT =
  'Make the environment with `bash scripts/python/setup.sh` (or `pip install torch "transformers>=5" peft accelerate safetensors numpy` into the Python you name with --python / VEMBED_PYTHON).';

export function locatePython(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option) return option;
  if (env.VEMBED_PYTHON) return env.VEMBED_PYTHON;
  const cache = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const made = path.join(cache, 'vembed-pyenv', 'bin', 'python');
  return fs.existsSync(made) ? made : 'python3';
}

/** Throws a one-line UserError when `python` lacks what the torch engine imports; returns its torch version. */
export function checkTorchPython(python: string): string {
  // Found without importing them (importing torch and transformers takes seconds; the ranks do it once).
  const code = `import importlib.metadata as md, importlib.util, sys
missing = [name for name in ${JSON.stringify(REQUIRED)} if importlib.util.find_spec(name) is None]
if missing:
    print("missing " + ", ".join(missing)); sys.exit(3)
version = md.version("transformers")
if int(version.split(".")[0]) < 5:
    print(f"transformers {version} is too old (5 or newer)"); sys.exit(3)
print(md.version("torch"))`;
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  if (r.error)
    throw new UserError(
      `the torch engine needs Python, and ${python} cannot be run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}).`,
      INSTALL_HINT,
      'torch-python',
    );
  if (r.status !== 0) {
    const said = (r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.status}`).split('\n')[0];
    throw new UserError(`the torch engine cannot run in ${python}: ${said}.`, INSTALL_HINT, 'torch-python');
  }
  return r.stdout.trim();
}
