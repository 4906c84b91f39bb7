// The engine manager against the real engine bundle, without VS Code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { EngineProcess, EngineRegistry } from '../../src/extension/engineClient/engineProcess';
import { tempDir, writeConfig, writePairData, writeTinyModel } from '../engine/run/fixtures';

const root = path.resolve(__dirname, '../..');
const enginePath = path.join(root, 'dist/engine/vembed.js');
const launch = (args: string[]) => ({ nodePath: process.execPath, enginePath, args, cwd: root });

test('events from a real command are parsed into state; exit 0 completes', async () => {
  const events: string[] = [];
  const p = new EngineProcess(launch(['validate', 'examples/dinov2_i2i.yaml']));
  p.on('event', (e) => events.push(e.type));
  p.start();
  const exit = await p.exited;
  assert.equal(exit.code, 0, exit.logTail.join('\n'));
  assert.equal(exit.state.status, 'completed', 'no finished event, but exit 0');
  assert.ok(events.includes('log'));
});

test('a failing command is reported with its last log lines', async () => {
  const p = new EngineProcess(launch(['validate', 'test/fixtures/config/broken.yaml'])).start();
  const exit = await p.exited;
  assert.equal(exit.code, 1);
  assert.equal(exit.state.status, 'failed');
  assert.ok(exit.state.error, 'the error event is in the state');
  assert.ok(
    exit.logTail.some((l) => l.includes('learning_rte')),
    exit.logTail.join('\n'),
  );
});

test('a node that cannot start is a failed run, not a hang', async () => {
  const p = new EngineProcess({ ...launch(['doctor']), nodePath: '/nonexistent/node' }).start();
  const exit = await p.exited;
  assert.equal(exit.state.status, 'failed');
  assert.match(exit.logTail.join('\n'), /failed to start \/nonexistent\/node/);
});

test('one run per output folder', async () => {
  const reg = new EngineRegistry();
  const a = reg.start('/out/a', launch(['doctor']));
  assert.throws(() => reg.start('/out/a', launch(['doctor'])), /already in progress in \/out\/a/);
  const b = reg.start('/out/b', launch(['doctor']));
  await Promise.all([a.exited, b.exited]);
  assert.equal(reg.get('/out/a'), undefined, 'a finished run frees its folder');
  reg.start('/out/a', launch(['--version']));
  reg.dispose();
});

test('training runs and tasks are told apart by kind, whatever their paths hold (Windows paths have a colon)', async () => {
  const reg = new EngineRegistry();
  const runDir = 'C:\\Users\\ana\\runs\\demo';
  const taskKey = 'search:C:\\Users\\ana';
  // Processes that stay up until disposed, so both are running while we look.
  const dir = tempDir('kinds');
  const idleLaunch = { nodePath: process.execPath, enginePath: path.join(dir, 'idle.js'), args: [], cwd: dir };
  fs.writeFileSync(idleLaunch.enginePath, 'setInterval(() => {}, 1000);');
  try {
    reg.start(runDir, idleLaunch, 'training');
    reg.start(taskKey, idleLaunch, 'task');
    assert.deepEqual(
      reg.active('training').map(([k]) => k),
      [runDir],
    );
    assert.deepEqual(
      reg.active('task').map(([k]) => k),
      [taskKey],
    );
    assert.equal(reg.active().length, 2);
  } finally {
    reg.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stop() sends SIGINT: the engine finishes its step, saves a checkpoint and exits 0', async () => {
  const dir = tempDir('stop');
  try {
    await writeTinyModel(path.join(dir, 'model'));
    fs.mkdirSync(path.join(dir, 'data'));
    await writePairData(path.join(dir, 'data'));
    // Many small steps, so the stop lands in the middle of the run.
    writeConfig(dir, { epochs: 50, batch_size: 4, gradient_cache_chunk_size: 2, val_data_path: null });
    const p = new EngineProcess({ ...launch(['train', '--config', 'train_i2i.yaml']), cwd: dir }).start();
    await new Promise<void>((resolve) => p.on('event', (e) => e.type === 'step' && e.step === 2 && resolve()));
    const exit = await p.stop(20000);
    assert.equal(exit.code, 0, exit.logTail.join('\n'));
    assert.equal(exit.state.status, 'stopped');
    const last = exit.state.checkpoints.at(-1);
    assert.ok(last && (last.kind === 'stop' || last.kind === 'epoch'), JSON.stringify(exit.state.checkpoints));
    assert.ok(fs.existsSync(path.join(last.path, 'trainer_state.json')));
    assert.ok(exit.state.step < 50 * 6, 'stopped before the end');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an engine that ignores SIGINT is terminated after the grace period', async () => {
  // A script that traps SIGINT and idles stands in for a hung engine.
  const dir = tempDir('hung');
  const script = path.join(dir, 'hung.js');
  fs.writeFileSync(
    script,
    "process.on('SIGINT', () => {}); setInterval(() => {}, 1000); process.stdout.write('up\\n');",
  );
  const p = new EngineProcess({ nodePath: process.execPath, enginePath: script, args: [], cwd: dir }).start();
  await new Promise<void>((resolve) => p.on('log', (l) => l === 'up' && resolve()));
  const started = Date.now();
  const exit = await p.stop(500);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(exit.signal, 'SIGTERM');
  assert.ok(Date.now() - started < 5000);
  assert.equal(exit.state.status, 'failed');
});
