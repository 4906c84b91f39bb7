/**
 * The Python environment the PyTorch engine runs in: which interpreter
 * (`--python`, `VEMBED_PYTHON`, vembed's own environment from
 * scripts/python/setup.sh, else `python3` / `python` on PATH), where the
 * engine's Python package sits (python/ at the repository root, or in the
 * unpacked .vsix beside dist/), and what that interpreter has: the answer of
 * python/vembed_torch/probe.py, checked here and typed as a TorchEnv.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where an interpreter came from, for messages ("--python", "VEMBED_PYTHON", ...). */
export type PythonSource = 'flag' | 'env' | 'project-env' | 'path';

export interface PythonCandidate {
  command: string;
  source: PythonSource;
}

/** The libraries the probe reports, in its order (python/vembed_torch/probe.py PACKAGES). */
export const TORCH_PACKAGES = [
  'torch',
  'transformers',
  'peft',
  'accelerate',
  'safetensors',
  'numpy',
  'pillow',
] as const;
export type TorchPackage = (typeof TORCH_PACKAGES)[number];

export interface TorchDevice {
  type: 'cuda' | 'rocm' | 'mps';
  index: number;
  name: string;
  /** CUDA compute capability, "9.0"; null on ROCm and MPS. */
  capability: string | null;
  memoryBytes: number | null;
  bf16: boolean;
}

export interface TorchFacts {
  version: string;
  /** CUDA toolkit torch was built with ("12.4"), null for CPU or ROCm builds. */
  cuda: string | null;
  /** ROCm (HIP) version of a ROCm build, else null. */
  hip: string | null;
  /** Why CUDA could not be queried although torch has it (driver mismatch ...), else null. */
  cudaError: string | null;
  cpuThreads: number;
  devices: TorchDevice[];
  distributed: { available: boolean; nccl: boolean; gloo: boolean; mpi: boolean };
}

/** What the engine's Python environment has (the probe's answer). */
export interface TorchEnv {
  python: { version: string; executable: string; implementation: string; ok: boolean };
  /** How it was found, and the command vembed runs. */
  source: PythonSource;
  command: string;
  /** Installed version of each library, null where missing. */
  packages: Record<TorchPackage, string | null>;
  /** Installed but unusable: failed to import, or too old. */
  broken: Partial<Record<TorchPackage, string>>;
  /** null when torch itself is missing or broken. */
  torch: TorchFacts | null;
  missing: TorchPackage[];
  /** Everything the engine needs is there and imports. */
  complete: boolean;
  /** One line: what is missing and how to install it; null when complete. */
  message: string | null;
}

export type TorchProbe =
  { ok: true; env: TorchEnv } | { ok: false; command: string; source: PythonSource; error: string };

const PROBE_VERSION = 1;
const PACKAGE_MARKER = path.join('vembed_torch', '__init__.py');
/** Importing torch (and CUDA's first initialisation) can take long on a cold disk. */
export const DEFAULT_PROBE_TIMEOUT_MS = 120_000;

/**
 * The folder holding the `vembed_torch` package (python/): found by walking up
 * from this module, since python/ sits at the package root both for the sources
 * (src/engine/torch/) and for the bundle (dist/engine/, also inside the .vsix).
 */
export function findTorchPackageDir(from: string = __dirname): string | undefined {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'python');
    if (fs.existsSync(path.join(candidate, PACKAGE_MARKER))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** vembed's own environment (scripts/python/setup.sh): `VEMBED_PYENV`, else the cache folder's vembed-pyenv. */
export function projectEnvDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VEMBED_PYENV) return env.VEMBED_PYENV;
  const cache = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'vembed-pyenv');
}

/** A virtual environment's interpreter: bin/python (POSIX) or Scripts/python.exe (Windows), whichever exists. */
export function venvPython(dir: string): string | undefined {
  for (const rel of [path.join('bin', 'python'), path.join('Scripts', 'python.exe')]) {
    const p = path.join(dir, rel);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/**
 * The interpreters to try, best first. A `--python` flag or `VEMBED_PYTHON` is
 * the only candidate (what the user named is used or is an error, never passed
 * over); otherwise vembed's own environment where it exists, then PATH.
 */
export function pythonCandidates(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): PythonCandidate[] {
  if (flag) return [{ command: flag, source: 'flag' }];
  if (env.VEMBED_PYTHON) return [{ command: env.VEMBED_PYTHON, source: 'env' }];
  const out: PythonCandidate[] = [];
  const own = venvPython(projectEnvDir(env));
  if (own) out.push({ command: own, source: 'project-env' });
  out.push({ command: 'python3', source: 'path' }, { command: 'python', source: 'path' });
  return out;
}

/** "--python /x/python", "VEMBED_PYTHON=/x/python", ... for messages. */
export function describeSource(c: PythonCandidate): string {
  switch (c.source) {
    case 'flag':
      return `--python ${c.command}`;
    case 'env':
      return `VEMBED_PYTHON=${c.command}`;
    case 'project-env':
      return `vembed's environment ${c.command}`;
    case 'path':
      return `${c.command} on PATH`;
  }
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the process could not start (ENOENT, EACCES) or was killed by the timeout. */
  failure?: 'not-found' | 'not-runnable' | 'timeout';
  detail?: string;
}

function runProbe(
  command: string,
  pythonDir: string,
  timeoutMs: number,
  baseEnv: NodeJS.ProcessEnv,
  imports: ProbeImports,
): Promise<RunResult> {
  const env = {
    ...baseEnv,
    PYTHONPATH: [pythonDir, baseEnv.PYTHONPATH].filter(Boolean).join(path.delimiter),
    // Probe output must be the JSON alone, in UTF-8 on every platform.
    PYTHONIOENCODING: 'utf-8',
    PYTHONDONTWRITEBYTECODE: '1',
  };
  return new Promise((resolve) => {
    execFile(
      command,
      ['-m', 'vembed_torch.probe', '--imports', imports],
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20, windowsHide: true, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        if (e.code === 'ENOENT') return resolve({ code: null, stdout, stderr, failure: 'not-found' });
        if (e.code === 'EACCES' || e.code === 'ENOEXEC')
          return resolve({ code: null, stdout, stderr, failure: 'not-runnable', detail: String(e.code) });
        if (e.killed) return resolve({ code: null, stdout, stderr, failure: 'timeout' });
        resolve({ code: typeof e.code === 'number' ? e.code : 1, stdout, stderr });
      },
    );
  });
}

/** The last non-empty line: the probe's JSON, or the line of a Python traceback that says what went wrong. */
function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nullableString = (v: unknown): string | null => (isString(v) ? v : null);

function parseDevice(raw: unknown): TorchDevice {
  if (!isObject(raw) || !['cuda', 'rocm', 'mps'].includes(raw.type as string) || !isString(raw.name))
    throw new Error(`a device entry is malformed: ${JSON.stringify(raw)}`);
  return {
    type: raw.type as TorchDevice['type'],
    index: Number(raw.index ?? 0),
    name: raw.name,
    capability: nullableString(raw.capability),
    memoryBytes: typeof raw.memory_bytes === 'number' ? raw.memory_bytes : null,
    bf16: raw.bf16 === true,
  };
}

function parseTorch(raw: unknown): TorchFacts | null {
  if (raw === null || raw === undefined) return null;
  if (!isObject(raw) || !isString(raw.version) || !Array.isArray(raw.devices))
    throw new Error('its "torch" entry is malformed');
  const d = isObject(raw.distributed) ? raw.distributed : {};
  return {
    version: raw.version,
    cuda: nullableString(raw.cuda),
    hip: nullableString(raw.hip),
    cudaError: nullableString(raw.cuda_error),
    cpuThreads: typeof raw.cpu_threads === 'number' ? raw.cpu_threads : 1,
    devices: raw.devices.map(parseDevice),
    distributed: { available: d.available === true, nccl: d.nccl === true, gloo: d.gloo === true, mpi: d.mpi === true },
  };
}

/** Checks the probe's JSON (the boundary between the two languages) and types it. */
export function parseProbeOutput(stdout: string, candidate: PythonCandidate): TorchEnv {
  // The JSON is the last line: anything a library printed on import comes before it.
  const line = lastLine(stdout);
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new Error(`its probe printed no JSON (last line: ${JSON.stringify(line.slice(0, 120))})`);
  }
  if (!isObject(raw) || raw.probe !== PROBE_VERSION)
    throw new Error(`its probe answered in another format (probe ${JSON.stringify(isObject(raw) ? raw.probe : raw)})`);
  const py = raw.python;
  if (!isObject(py) || !isString(py.version) || !isString(py.executable))
    throw new Error('its probe did not say which Python it is');
  const packagesRaw = isObject(raw.packages) ? raw.packages : {};
  const packages = Object.fromEntries(TORCH_PACKAGES.map((p) => [p, nullableString(packagesRaw[p])])) as Record<
    TorchPackage,
    string | null
  >;
  const brokenRaw = isObject(raw.broken) ? raw.broken : {};
  const broken: Partial<Record<TorchPackage, string>> = {};
  for (const p of TORCH_PACKAGES) if (isString(brokenRaw[p])) broken[p] = brokenRaw[p] as string;
  const missing = TORCH_PACKAGES.filter((p) => packages[p] === null);
  const torch = parseTorch(raw.torch);
  const pythonOk = py.ok !== false;
  const complete = pythonOk && missing.length === 0 && Object.keys(broken).length === 0 && torch !== null;
  return {
    python: {
      version: py.version,
      executable: py.executable,
      implementation: isString(py.implementation) ? py.implementation : 'Python',
      ok: pythonOk,
    },
    source: candidate.source,
    command: candidate.command,
    packages,
    broken,
    torch,
    missing,
    complete,
    message: complete ? null : (nullableString(raw.message) ?? 'PyTorch engine: the environment is incomplete'),
  };
}

/**
 * What the probe imports to check that a library works: `all` (doctor: a
 * transformers that does not import beside this torch shows up here) or
 * `torch` (training's engine choice: the others are checked by version only,
 * which saves seconds at every start; the engine itself imports them next).
 */
export type ProbeImports = 'all' | 'torch';

export interface ProbeOptions {
  /** `--python` (the extension passes `vembed.pythonPath` this way). */
  python?: string;
  /** The environment the interpreter is looked up in and runs with (default: this process's). */
  env?: NodeJS.ProcessEnv;
  imports?: ProbeImports;
  timeoutMs?: number;
  /** The folder holding vembed_torch (default: found beside the engine). */
  pythonDir?: string;
}

/**
 * Probes the first interpreter that runs: its libraries, devices and
 * distributed backends. Never throws; a missing or broken interpreter comes
 * back as `ok: false` with a one-line error saying what to do.
 */
export async function probeTorchEnv(options: ProbeOptions = {}): Promise<TorchProbe> {
  const baseEnv = options.env ?? process.env;
  const candidates = pythonCandidates(options.python, baseEnv);
  const pythonDir = options.pythonDir ?? findTorchPackageDir();
  const first = candidates[0];
  if (!pythonDir)
    return {
      ok: false,
      command: first.command,
      source: first.source,
      error: "vembed's Python package (python/vembed_torch) is not beside the engine: reinstall vembed",
    };
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  let lastFailure: TorchProbe | undefined;
  for (const c of candidates) {
    const r = await runProbe(c.command, pythonDir, timeoutMs, baseEnv, options.imports ?? 'all');
    const where = describeSource(c);
    if (r.failure === 'not-found') {
      lastFailure = {
        ok: false,
        command: c.command,
        source: c.source,
        error:
          c.source === 'path'
            ? 'no Python found (python3 or python on PATH): install Python 3.10+ with PyTorch, or set vembed.pythonPath / --python / VEMBED_PYTHON'
            : `${where}: no such program: point it at a Python 3.10+ interpreter`,
      };
      // Only PATH lookups fall through to the next name; a named interpreter is used or is an error.
      if (c.source === 'path') continue;
      return lastFailure;
    }
    if (r.failure === 'not-runnable')
      return {
        ok: false,
        command: c.command,
        source: c.source,
        error: `${where}: cannot be run (${r.detail}): point it at a Python interpreter`,
      };
    if (r.failure === 'timeout')
      return {
        ok: false,
        command: c.command,
        source: c.source,
        error: `${where}: the probe did not answer within ${Math.round(timeoutMs / 1000)} s (importing torch hung?)`,
      };
    if (r.code !== 0) {
      const why = lastLine(r.stderr).slice(0, 300) || `exit code ${r.code}`;
      const old = /SyntaxError|invalid syntax/.test(why) ? ' (Python 3.10+ is needed)' : '';
      return { ok: false, command: c.command, source: c.source, error: `${where}: the probe failed: ${why}${old}` };
    }
    try {
      return { ok: true, env: parseProbeOutput(r.stdout, c) };
    } catch (e) {
      return { ok: false, command: c.command, source: c.source, error: `${where}: ${(e as Error).message}` };
    }
  }
  return lastFailure!;
}
