/**
 * Where the e2e tools are (installed by scripts/e2e/setup.sh) and which .vsix
 * is under test.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const ARTIFACTS_ROOT = path.join(REPO_ROOT, '.test-output', 'e2e');

export interface E2ETools {
  /** Node 24 executable that runs code-server. */
  node: string;
  /** code-server's `out/node/entry.js`. */
  codeServerEntry: string;
  /** Debian's Chromium. */
  chromium: string;
}

/** Same rule as scripts/e2e/setup.sh. */
export function e2eCacheDir(): string {
  return (
    process.env.VEMBED_E2E_CACHE ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'vembed-e2e')
  );
}

/** The tools, or a sentence saying why they cannot be used. */
export function findTools(): E2ETools | string {
  const file = path.join(e2eCacheDir(), 'paths.json');
  if (!fs.existsSync(file)) return `${file} does not exist: run scripts/e2e/setup.sh first`;
  let parsed: Partial<E2ETools>;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<E2ETools>;
  } catch (e) {
    return `${file} is not valid JSON (${(e as Error).message}): run scripts/e2e/setup.sh again`;
  }
  for (const key of ['node', 'codeServerEntry', 'chromium'] as const) {
    const p = parsed[key];
    if (typeof p !== 'string' || !fs.existsSync(p))
      return `${file}: "${key}" (${String(p)}) does not exist: run scripts/e2e/setup.sh again`;
  }
  return parsed as E2ETools;
}

/**
 * The .vsix to install: $VEMBED_E2E_VSIX (set by scripts/e2e/run.mjs, which
 * packages once for all test files), else a fresh package of the working tree.
 */
export function vsixUnderTest(): { path: string; temporary: boolean } {
  const given = process.env.VEMBED_E2E_VSIX;
  if (given) {
    if (!fs.existsSync(given)) throw new Error(`VEMBED_E2E_VSIX=${given} does not exist`);
    return { path: given, temporary: false };
  }
  // One file per process: test files started in parallel must not write the same path.
  const out = path.join(ARTIFACTS_ROOT, 'vsix', `vembed-${process.pid}.vsix`);
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'package.mjs'), '--out', out], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0) throw new Error(`scripts/package.mjs failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return { path: out, temporary: true };
}
