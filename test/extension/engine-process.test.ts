// The engine manager against the real engine bundle, without VS Code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { EngineProcess, EngineRegistry } from '../../src/extension/engine/engineProcess';

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
  assert.ok(exit.logTail.some((l) => l.includes('learning_rte')), exit.logTail.join('\n'));
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
