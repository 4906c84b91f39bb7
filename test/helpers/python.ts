// The Python environment with the real libraries (transformers, peft, FAISS,
// pytorch-metric-learning, ONNX Runtime) that tests check the project against.
// `npm test` makes it first (scripts/python/setup.sh, cached outside the
// repository); a test run on its own makes it here when it is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';

const setupScript = path.resolve(__dirname, '..', '..', 'scripts', 'python', 'setup.sh');
let python: string | undefined;

/** Path of the environment's python; sets the environment up on first use. */
export function referencePython(): string {
  if (python === undefined) {
    const out = execFileSync('bash', [setupScript], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    });
    python = out.trim().split('\n').pop() as string;
  }
  return python;
}

/** Runs `python -c CODE args...` (or a script file) in that environment; throws with its stderr when it fails. */
export function runPython(args: string[], options: { input?: string; cwd?: string; timeoutMs?: number } = {}): string {
  const r = spawnSync(referencePython(), args, {
    encoding: 'utf8',
    input: options.input,
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 300_000,
    maxBuffer: 256 << 20,
    // One thread each for torch/BLAS: the tests share two cores with the engine.
    env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1', TOKENIZERS_PARALLELISM: 'false' },
  });
  if (r.status !== 0)
    throw new Error(`python ${args.slice(0, 2).join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout;
}
