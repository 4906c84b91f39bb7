/**
 * The backend ladder: CUDA (tfjs-node-gpu), native CPU (tfjs-node), wasm, pure JS.
 *
 * One place decides which backend a command computes on; every command calls
 * `activateBackend` and reports what it got. `probeBackends` is what
 * `vembed doctor` prints: for each rung, whether it loads and, if not, why.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BACKEND_LADDER, type BackendName } from '../../shared/protocol';
import { bundledTf, useTf, type Tf } from './tf';
import { missingCudaLibraries } from './cuda';

export type BackendPreference = 'auto' | BackendName;

export interface BackendProbe {
  name: BackendName;
  ok: boolean;
  /** Why it cannot be used, in words a user can act on. */
  reason?: string;
  /** Where the package was found, for the native ones. */
  location?: string;
  /** Set when the backend loads but is degraded (tfjs-node-gpu without CUDA). */
  warning?: string;
}

export interface ActiveBackend {
  name: BackendName;
  device: string;
  tf: Tf;
  /** Problems met on the way down the ladder. */
  skipped: BackendProbe[];
}

const NATIVE_PACKAGES: Record<'tfjs-node-gpu' | 'tfjs-node', string> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
};

/**
 * Folders searched for the native packages besides normal module resolution:
 * `VEMBED_BACKEND_PATH` (path-list of folders holding a `node_modules`), set by
 * the extension to its global storage where "Install GPU Backend" puts them.
 */
function searchRoots(): string[] {
  const extra = (process.env.VEMBED_BACKEND_PATH ?? '').split(path.delimiter).filter(Boolean);
  return [...extra, process.cwd(), __dirname];
}

function resolveNative(pkg: string): string | undefined {
  try {
    return require.resolve(pkg, { paths: searchRoots() });
  } catch {
    return undefined;
  }
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.slice(0, 300);
}

/** Folder holding the tfjs-backend-wasm `.wasm` binaries (copied next to the bundle by the build). */
export function wasmBinaryDir(): string {
  if (fs.existsSync(path.join(__dirname, 'tfjs-backend-wasm-simd.wasm'))) return __dirname;
  // Unbundled (tests, tsx): the package's own dist folder. A variable keeps esbuild from inlining it.
  const pkg = '@tensorflow/tfjs-backend-wasm';
  return path.dirname(require.resolve(pkg));
}

type Loaded = { tf: Tf; device: string };

async function loadNative(name: 'tfjs-node-gpu' | 'tfjs-node'): Promise<Loaded> {
  const resolved = resolveNative(NATIVE_PACKAGES[name]);
  if (!resolved) throw new NotInstalled(`${NATIVE_PACKAGES[name]} is not installed`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ns = require(resolved) as Tf;
  await ns.setBackend('tensorflow');
  await ns.ready();
  let device = name === 'tfjs-node-gpu' ? 'TensorFlow native (CUDA)' : 'TensorFlow native (CPU)';
  if (name === 'tfjs-node-gpu') {
    const missing = missingCudaLibraries();
    if (missing.length > 0) device = `TensorFlow native, CPU fallback: CUDA libraries missing (${missing.join(', ')})`;
  }
  return { tf: ns, device };
}

class NotInstalled extends Error {}

async function loadWasm(): Promise<Loaded> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(wasmBinaryDir() + path.sep);
  const ok = await bundledTf.setBackend('wasm');
  if (!ok) throw new Error('the wasm backend failed to initialise');
  await bundledTf.ready();
  const simd = await bundledTf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = wasm.getThreadsCount();
  return { tf: bundledTf, device: `WebAssembly (${threads} thread${threads === 1 ? '' : 's'}${simd ? ', SIMD' : ''})` };
}

async function loadCpu(): Promise<Loaded> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-backend-cpu');
  const ok = await bundledTf.setBackend('cpu');
  if (!ok) throw new Error('the cpu backend failed to initialise');
  return { tf: bundledTf, device: 'JavaScript CPU (slow)' };
}

const LOADERS: Record<BackendName, () => Promise<Loaded>> = {
  'tfjs-node-gpu': () => loadNative('tfjs-node-gpu'),
  'tfjs-node': () => loadNative('tfjs-node'),
  wasm: loadWasm,
  cpu: loadCpu,
};

/** Parse a backend preference from a flag or setting; undefined if it is not one. */
export function parseBackendPreference(s: string | undefined): BackendPreference | undefined {
  if (s === undefined || s === '' || s === 'auto') return 'auto';
  return (BACKEND_LADDER as readonly string[]).includes(s) ? (s as BackendName) : undefined;
}

/**
 * Activate the best backend allowed by `preference`. `auto` walks the whole
 * ladder; a named backend is tried alone, and failing it is an error (a user
 * who asked for the GPU should not silently get the CPU).
 */
export async function activateBackend(preference: BackendPreference = 'auto'): Promise<ActiveBackend> {
  const rungs = preference === 'auto' ? BACKEND_LADDER : [preference];
  const skipped: BackendProbe[] = [];
  for (const name of rungs) {
    try {
      const loaded = await LOADERS[name]();
      useTf(loaded.tf);
      return { name, device: loaded.device, tf: loaded.tf, skipped };
    } catch (e) {
      skipped.push({ name, ok: false, reason: errorText(e) });
    }
  }
  const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new Error(`No compute backend could be loaded (${why}). Run \`vembed doctor\` for details.`);
}

/**
 * Try every rung without activating any (doctor). The native ones are loaded in
 * a child process each, because a native library that fails can take the
 * process down with it.
 */
export async function probeBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const name of BACKEND_LADDER) {
    if (name === 'tfjs-node-gpu' || name === 'tfjs-node') {
      const location = resolveNative(NATIVE_PACKAGES[name]);
      if (!location) {
        out.push({
          name,
          ok: false,
          reason: `${NATIVE_PACKAGES[name]} is not installed (optional; it downloads libtensorflow when installed, so it needs internet access: \`npm install ${NATIVE_PACKAGES[name]}\`, or "vembed: Install GPU Backend" in VS Code)`,
        });
        continue;
      }
      const probe = await probeNativeInChild(name, location);
      out.push(probe);
      continue;
    }
    try {
      const loaded = await LOADERS[name]();
      out.push({ name, ok: true, reason: loaded.device });
    } catch (e) {
      out.push({ name, ok: false, reason: errorText(e) });
    }
  }
  return out;
}

async function probeNativeInChild(name: 'tfjs-node-gpu' | 'tfjs-node', location: string): Promise<BackendProbe> {
  const { spawnSync } = await import('node:child_process');
  const script = `const tf=require(${JSON.stringify(location)});tf.setBackend('tensorflow').then(()=>{tf.tensor([1,2]).square().dataSync();process.stdout.write('ok')})`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
  if (r.status === 0 && r.stdout.includes('ok')) {
    const probe: BackendProbe = { name, ok: true, location };
    if (name === 'tfjs-node-gpu') {
      const missing = missingCudaLibraries();
      if (missing.length > 0) {
        probe.warning = `loads, but TensorFlow will fall back to the CPU: these CUDA 11.x / cuDNN 8 libraries were not found: ${missing.join(', ')}. Install them (CUDA 11.2+ toolkit and cuDNN 8) and put them on LD_LIBRARY_PATH.`;
      }
    }
    return probe;
  }
  const stderr = (r.stderr || r.error?.message || '').trim();
  const libLine = stderr.split('\n').find((l) => /\.so|\.dll|dylib|cannot open shared object/i.test(l));
  return {
    name,
    ok: false,
    location,
    reason: `failed to load: ${(libLine ?? stderr.split('\n')[0] ?? 'unknown error').slice(0, 300)}`,
  };
}
