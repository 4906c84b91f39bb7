/**
 * Shared steps of the torch engine's process tests: run folders over the shared tiny data with a chosen model,
 * `vembed train` as a real process (ONNX engine or torch engine), and comparisons of losses and checkpoints.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { readSafetensors } from '../../../src/engine/io/safetensors';
import { referencePython } from '../../helpers/python';
import type { EngineEvent } from '../../../src/shared/protocol';
import { engineEvents } from '../engineEvents';
import { tempDir, writeConfig, writePairData, writeTinyModel } from '../run/fixtures';

export const ROOT = path.resolve(__dirname, '../../..');
const bin = path.join(ROOT, 'bin', 'vembed.js');
export const FIXTURES = path.join(ROOT, 'test/fixtures/dinov2');

/** A test file's temporary folder with a tiny model and the shared pair data, and the reference Python. */
export interface TinyTorchWork {
  /** The folder (runFolder's `work`). */
  work: string;
  /** The tiny model's folder. */
  model: string;
  /** The reference Python environment's interpreter. */
  python: string;
}

/**
 * A TinyTorchWork for the tests of the calling file: made before they run (a tiny model in `tiny/`, the shared
 * pair data in `data/`), removed after; its fields are set once the `before` hook has run.
 */
export function useTinyTorchWork(tag: string): TinyTorchWork {
  const w: TinyTorchWork = { work: '', model: '', python: '' };
  before(async () => {
    w.python = referencePython();
    w.work = tempDir(tag);
    w.model = await writeTinyModel(path.join(w.work, 'tiny'));
    fs.mkdirSync(path.join(w.work, 'data'));
    await writePairData(path.join(w.work, 'data'));
  });
  after(() => {
    if (w.work) fs.rmSync(w.work, { recursive: true, force: true });
  });
  return w;
}

/**
 * Runs whose processes can be compared with one process: 3 steps of 8 pairs an epoch, no validation, no dropout,
 * and a chunk of 2, so that each of two processes' shares (4 pairs) spans two chunks.
 */
export const SHARED_BATCH_RUN = {
  val_data_path: null,
  lora_dropout: 0,
  learning_rate: 0.01,
  gradient_cache_chunk_size: 2,
} as const;

/** A run folder under `work` with `model` and the shared `data` linked in, and its config. */
export function runFolder(work: string, tag: string, model: string, extra: Record<string, unknown>): string {
  const dir = path.join(work, tag);
  fs.mkdirSync(dir);
  fs.symlinkSync(model, path.join(dir, 'model'));
  fs.symlinkSync(path.join(work, 'data'), path.join(dir, 'data'));
  writeConfig(dir, extra);
  return dir;
}

export interface TrainResult {
  code: number | null;
  stdout: string;
  stderr: string;
  events: EngineEvent[];
  seconds: number;
}

function environment(python: string): NodeJS.ProcessEnv {
  // One thread each: the tests share two cores.
  return { ...process.env, VEMBED_PYTHON: python, VEMBED_THREADS: '1', OMP_NUM_THREADS: '1' };
}

/** `vembed train --json ARGS` in `dir`, to the end. */
export function train(dir: string, python: string, args: string[], timeout = 240_000): TrainResult {
  const started = Date.now();
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
    env: environment(python),
  });
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    events: engineEvents(r.stdout),
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * `vembed train --json ARGS` in `dir`, calling `onEvent` with each event as it comes (it may signal the process).
 * With `ownGroup` the CLI leads a process group of its own, as a terminal's foreground job does: signalling
 * `-pid` then reaches every process it started that stays in the group, as Ctrl+C in a terminal does.
 */
export async function trainWatching(
  dir: string,
  python: string,
  args: string[],
  onEvent: (e: EngineEvent, pid: number) => void,
  timeout = 240_000,
  ownGroup = false,
): Promise<TrainResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json', ...args], {
    cwd: dir,
    env: environment(python),
    detached: ownGroup,
  });
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    pending += c.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const e of engineEvents(lines.join('\n'))) onEvent(e, child.pid!);
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr, events: engineEvents(stdout), seconds: (Date.now() - started) / 1000 };
}

export function assertOk(r: TrainResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-3000)}`);
}

export const stepLosses = (events: EngineEvent[]): Map<number, number> =>
  new Map(events.flatMap((e) => (e.type === 'step' ? [[e.step, e.loss] as [number, number]] : [])));

/**
 * Attention key biases get a gradient that is exactly 0 in exact arithmetic (adding a constant to every key
 * shifts a softmax row by a constant), so what an engine applies to them is rounding noise that AdamW scales to
 * the learning rate: two correct engines then differ by up to the learning rate per step. They are left out of
 * weight comparisons (the losses, which they cannot change, are compared).
 */
export const GRADIENT_FREE = /attention\.attention\.key\.bias|attention\.k_proj\.bias/;

/** Largest |a - b| / max|b| over the tensors of two safetensors files holding the same names. */
export function worstRelativeDifference(
  fileA: string,
  fileB: string,
  skip: RegExp = GRADIENT_FREE,
): { worst: number; tensor: string } {
  const a = readSafetensors(fileA).tensors;
  const b = readSafetensors(fileB).tensors;
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${fileA} and ${fileB} hold different tensors`);
  let worst = 0;
  let tensor = '';
  for (const [name, ta] of a) {
    if (skip.test(name)) continue;
    const tb = b.get(name)!;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < tb.data.length; i++) {
      scale = Math.max(scale, Math.abs(tb.data[i]!));
      diff = Math.max(diff, Math.abs(ta.data[i]! - tb.data[i]!));
    }
    const rel = scale > 0 ? diff / scale : diff;
    if (rel > worst) [worst, tensor] = [rel, name];
  }
  return { worst, tensor };
}

/** The weights file of a checkpoint: the adapter's or the full model's. */
export function weightsOf(checkpoint: string): string {
  const adapter = path.join(checkpoint, 'adapter_model.safetensors');
  return fs.existsSync(adapter) ? adapter : path.join(checkpoint, 'model.safetensors');
}

/** A run's step losses (stepLosses) and its last checkpoint's folder. */
export interface TrainedRun {
  losses: Map<number, number>;
  checkpoint: string;
}

/**
 * `got` trained as `expected` did, within 1e-5 (relative): each step loss `got` reports equals `expected`'s
 * at that step (a resumed run reports only the steps after its checkpoint), and the last checkpoints'
 * weights agree. Returns the worst relative weight difference.
 */
export function assertSameTraining(expected: TrainedRun, got: TrainedRun, where: string): number {
  for (const [step, loss] of got.losses) {
    const want = expected.losses.get(step);
    assert.ok(
      want !== undefined && Math.abs(loss - want) <= 1e-5 * Math.abs(want),
      `${where}, step ${step}: ${loss} vs ${want}`,
    );
  }
  const { worst, tensor } = worstRelativeDifference(weightsOf(got.checkpoint), weightsOf(expected.checkpoint));
  assert.ok(worst <= 1e-5, `${where}, ${tensor}: relative difference ${worst}`);
  return worst;
}

/** The pids of the python processes `pid` started, by RANK (Linux: /proc). */
export function rankPids(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  for (const child of r.stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      const env = fs.readFileSync(`/proc/${child}/environ`, 'utf8').split('\0');
      const rank = env.find((v) => v.startsWith('RANK='));
      if (rank) out.set(Number(rank.slice(5)), child);
    } catch {
      // gone already
    }
  }
  return out;
}
