// The process-wide thread choice: parsing, the VEMBED_THREADS fallback, and what it resolves to on wasm;
// and the CLI's --threads as a user meets it (the device line of run_started, a bad value refused).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import {
  computeThreadRequest,
  computeThreads,
  MAX_COMPUTE_THREADS,
  parseThreadRequest,
  setComputeThreads,
} from '../../../src/engine/backend/threads';
import { parseEventLine, type EngineEvent } from '../../../src/shared/protocol';
import { poolThreadLimit } from '../../../src/engine/util/threadCap';

const root = path.resolve(__dirname, '../../..');
const savedEnv = process.env.VEMBED_THREADS;

before(async () => {
  await activateBackend('wasm');
});

after(() => {
  if (savedEnv === undefined) delete process.env.VEMBED_THREADS;
  else process.env.VEMBED_THREADS = savedEnv;
  setComputeThreads('auto');
});

test('parsing: auto, whole numbers >= 1; anything else is refused', () => {
  assert.equal(parseThreadRequest(undefined), 'auto');
  assert.equal(parseThreadRequest(' auto '), 'auto');
  assert.equal(parseThreadRequest('3'), 3);
  for (const bad of ['0', '-1', '1.5', 'two', '2x']) assert.equal(parseThreadRequest(bad), null, bad);
});

test('VEMBED_THREADS applies until the CLI sets a choice; auto is one per core on wasm, capped', () => {
  process.env.VEMBED_THREADS = '3';
  assert.equal(computeThreadRequest(), 3);
  assert.equal(computeThreads(), 3);
  process.env.VEMBED_THREADS = 'many';
  assert.equal(computeThreadRequest(), 'auto', 'a bad VEMBED_THREADS counts as auto');
  setComputeThreads(1);
  assert.equal(computeThreadRequest(), 1);
  assert.equal(computeThreads(), 1);
  assert.equal(computeThreads('auto'), Math.min(os.availableParallelism(), MAX_COMPUTE_THREADS));
  assert.equal(computeThreads(50), poolThreadLimit('wasm'), 'the thread rule caps a number (util/threadCap.ts)');
  assert.ok(poolThreadLimit('wasm') <= MAX_COMPUTE_THREADS);
});

function embed(
  extra: string[],
  env: NodeJS.ProcessEnv = {},
): { code: number | null; events: EngineEvent[]; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-threads-'));
  try {
    const args = [
      path.join(root, 'bin', 'vembed.js'),
      'embed',
      '--json',
      '--model',
      'models/vembed-tiny',
      '--out',
      path.join(dir, 'e.npy'),
      'data/sample-sop/animals_final/154_1.jpg',
      ...extra,
    ];
    const r = spawnSync(process.execPath, args, {
      cwd: root,
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, VEMBED_THREADS: '', ...env },
    });
    const events = r.stdout.split('\n').flatMap((l) => {
      const p = parseEventLine(l);
      return p.kind === 'event' ? [p.event] : [];
    });
    return { code: r.status, events, stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('vembed --threads N: the run says how many threads compute; a bad value is a usage error naming it', () => {
  const device = (r: ReturnType<typeof embed>): string | undefined =>
    r.events.find((e) => e.type === 'run_started')?.device;
  const two = embed(['--threads', '2', '--backend', 'wasm']);
  assert.equal(two.code, 0, two.stderr);
  assert.match(device(two) ?? '', /^WebAssembly \(2 threads(, SIMD)?\)$/);
  const one = embed(['--backend', 'wasm'], { VEMBED_THREADS: '1' });
  assert.equal(one.code, 0, one.stderr);
  assert.match(device(one) ?? '', /^WebAssembly \(1 thread(, SIMD)?\)$/);
  const bad = embed(['--threads', 'lots']);
  assert.equal(bad.code, 2);
  const error = bad.events.find((e) => e.type === 'error');
  assert.match(
    `${error && 'message' in error ? error.message : ''}${bad.stderr}`,
    /--threads ?lots: expected auto or a whole number >= 1/,
  );
});
