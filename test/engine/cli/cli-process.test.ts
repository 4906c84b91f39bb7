// The built `vembed` as a user runs it: a separate process, real files.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseEventLine } from '../../../src/shared/protocol';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');

function vembed(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  assert.ok(fs.existsSync(path.join(root, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
});

test('validate: the example config passes', () => {
  const r = vembed(['validate', 'examples/dinov2_i2i.yaml']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /: error:/);
});

test('validate: a broken copy exits 1 and names each problem with its line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-cli-'));
  try {
    const text = fs
      .readFileSync(path.join(root, 'examples/dinov2_i2i.yaml'), 'utf8')
      .replace('learning_rate: 5.0e-5', 'learning_rte: 1e-4\nlr: 1e-4\nlearning_rate: 5.0e-5')
      .replace('batch_size: 128', 'batch_size: "big"')
      .replace('loss_type: "infonce"', 'loss_type: infonse');
    const file = path.join(dir, 'broken.yaml');
    fs.writeFileSync(file, text);
    const lineOf = (s: string) => text.split('\n').findIndex((l) => l.startsWith(s)) + 1;
    const r = vembed(['validate', file]);
    assert.equal(r.code, 1);
    const errors = r.stdout.split('\n').filter((l) => l.includes(': error: '));
    const expected = [
      [lineOf('batch_size'), /`batch_size` must be an integer/],
      [lineOf('loss_type'), /`loss_type: infonse` is not a known value\. Did you mean `infonce`\?/],
      [lineOf('learning_rte'), /Unknown key `learning_rte`\. Did you mean `learning_rate`\?/],
      [lineOf('lr:'), /Both `lr` .* and `learning_rate` .* are set, to different values/],
    ] as const;
    assert.equal(errors.length, expected.length, r.stdout);
    for (const [line, pattern] of expected) {
      assert.ok(
        errors.some((l) => l.startsWith(`${file}:${line}:`) && pattern.test(l)),
        `line ${line} ${pattern}\n${r.stdout}`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('validate --json writes only protocol events on stdout', () => {
  const r = vembed(['validate', '--json', path.join(root, 'test/fixtures/config/broken.yaml')]);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split('\n');
  const parsed = lines.map(parseEventLine);
  assert.ok(
    parsed.every((p) => p.kind === 'event'),
    r.stdout,
  );
  const errors = parsed.flatMap((p) => (p.kind === 'event' && p.event.type === 'error' ? [p.event] : []));
  assert.deepEqual(
    errors.map((e) => e.line),
    [2, 3],
  );
});

test('doctor names the backend that loads here and why the native ones do not', () => {
  const r = vembed(['doctor']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const line = (name: string) => lines.find((l) => l.slice(2).startsWith(name + ' '))!;
  // The native packages are optional and cannot be installed offline; if a
  // machine has them, they must load instead.
  for (const native of ['tfjs-node-gpu', 'tfjs-node']) {
    assert.match(line(native), /loads|is not installed|failed to load/);
  }
  assert.match(line('wasm'), /^[*+] wasm\s+loads: WebAssembly/);
  // onnxruntime-node is a dependency: its CPU provider loads; DirectML exists only on Windows.
  assert.match(line('onnx-cpu'), /^\+ onnx-cpu\s+loads$/);
  if (process.platform !== 'win32') assert.match(line('onnx-dml'), /unavailable: not built into onnxruntime-node/);
  assert.match(line('onnx-webgpu'), /loads|unavailable: .+/);
  assert.match(
    r.stdout,
    /Training will use: (onnx-cpu|tfjs-node-gpu); embedding, evaluation and search: (onnx-cpu|tfjs-node-gpu)/,
  );
});

test('unknown commands and options are usage errors with suggestions', () => {
  const a = vembed(['valdate', 'x.yaml']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /unknown command "valdate"\. Did you mean "validate"\?/);
  const b = vembed(['validate', '--jsn', 'x.yaml']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /unknown option --jsn\. Did you mean --json\?/);
  const c = vembed(['validate', 'does-not-exist.yaml']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /config file not found: does-not-exist\.yaml/);
});

test('every command has --help', () => {
  const main = vembed(['--help']);
  assert.equal(main.code, 0);
  const names = main.stdout
    .split('Commands:\n')[1]!
    .split('\n\n')[0]!
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/)[0]!);
  assert.ok(names.length >= 8, main.stdout);
  for (const name of names) {
    const r = vembed([...name.split(' '), '--help']);
    assert.equal(r.code, 0, name);
    assert.ok(r.stdout.startsWith(`Usage: vembed ${name}`), `${name}: ${r.stdout}`);
  }
});
