import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  findTorchPackageDir,
  probeTorchEnv,
  projectEnvDir,
  pythonCandidates,
  TORCH_PACKAGES,
  venvPython,
} from '../../../src/engine/torch/pythonEnv';
import { chooseTrainEngine } from '../../../src/engine/torch/engineChoice';
import { sightGpu } from '../../../src/engine/torch/gpuSighting';
import { referencePython } from '../../helpers/python';

const root = path.resolve(__dirname, '..', '..', '..');
const posix = process.platform !== 'win32';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-pyenv-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An empty virtual environment (no pip, no libraries): a real interpreter that has nothing the engine needs. */
function emptyVenv(dir: string): string {
  const r = spawnSync('python3', ['-m', 'venv', '--without-pip', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `python3 -m venv failed: ${r.stderr}`);
  return venvPython(dir)!;
}

test('the vembed_torch package is found beside the sources and beside the bundle', () => {
  const expected = path.join(root, 'python');
  assert.equal(findTorchPackageDir(path.join(root, 'src', 'engine', 'torch')), expected);
  assert.equal(findTorchPackageDir(path.join(root, 'dist', 'engine')), expected);
  assert.equal(findTorchPackageDir(os.tmpdir()), undefined);
});

test('--python, then VEMBED_PYTHON, then vembed-pyenv, then PATH', (t) => {
  const cache = tempDir(t);
  const env = { XDG_CACHE_HOME: cache };
  assert.equal(projectEnvDir(env), path.join(cache, 'vembed-pyenv'));
  assert.equal(projectEnvDir({ ...env, VEMBED_PYENV: '/elsewhere' }), '/elsewhere');
  assert.deepEqual(pythonCandidates(undefined, env), [
    { command: 'python3', source: 'path' },
    { command: 'python', source: 'path' },
  ]);
  // The project's environment: bin/python (POSIX) or Scripts/python.exe (Windows), whichever it has.
  const win = path.join(cache, 'vembed-pyenv', 'Scripts', 'python.exe');
  fs.mkdirSync(path.dirname(win), { recursive: true });
  fs.writeFileSync(win, '');
  assert.deepEqual(pythonCandidates(undefined, env)[0], { command: win, source: 'project-env' });
  const unix = path.join(cache, 'vembed-pyenv', 'bin', 'python');
  fs.mkdirSync(path.dirname(unix), { recursive: true });
  fs.writeFileSync(unix, '');
  assert.deepEqual(
    pythonCandidates(undefined, env).map((c) => c.source),
    ['project-env', 'path', 'path'],
  );
  assert.equal(pythonCandidates(undefined, env)[0].command, unix);
  // A named interpreter is the only candidate: used or an error, never passed over.
  assert.deepEqual(pythonCandidates(undefined, { ...env, VEMBED_PYTHON: '/opt/py' }), [
    { command: '/opt/py', source: 'env' },
  ]);
  assert.deepEqual(pythonCandidates('/my/py', { ...env, VEMBED_PYTHON: '/opt/py' }), [
    { command: '/my/py', source: 'flag' },
  ]);
});

test('an interpreter without the libraries: the probe lists them all and says how to install', async (t) => {
  const py = emptyVenv(path.join(tempDir(t), 'venv'));
  const probe = await probeTorchEnv({ python: py });
  assert.ok(probe.ok, !probe.ok ? probe.error : '');
  const env = probe.env;
  assert.equal(env.source, 'flag');
  assert.equal(env.complete, false);
  assert.equal(env.torch, null);
  assert.deepEqual(env.missing, [...TORCH_PACKAGES]);
  assert.match(env.python.version, /^3\.\d+\.\d+$/);
  assert.ok(
    env.message?.startsWith('PyTorch engine: missing torch, transformers, peft, accelerate, safetensors'),
    env.message!,
  );
  assert.ok(env.message!.includes(`-m pip install --upgrade torch transformers peft accelerate`), env.message!);
  assert.ok(env.message!.includes('scripts/python/setup.sh'));
  // The same interpreter found through VEMBED_PYTHON, and as vembed's own environment.
  const viaEnv = await probeTorchEnv({ env: { ...process.env, VEMBED_PYTHON: py } });
  assert.ok(viaEnv.ok && viaEnv.env.source === 'env');
  const cache = tempDir(t);
  emptyVenv(path.join(cache, 'vembed-pyenv'));
  const own = await probeTorchEnv({ env: { PATH: process.env.PATH, XDG_CACHE_HOME: cache } });
  assert.ok(own.ok && own.env.source === 'project-env' && own.env.command.startsWith(cache));
});

/** Installs a package by hand into a venv: its metadata (the version the probe reads) and a module. */
function fakePackage(venv: string, dist: string, version: string, module: string, code: string): void {
  const lib = path.join(venv, 'lib');
  const site = fs.existsSync(lib)
    ? path.join(
        lib,
        fs.readdirSync(lib).find((d) => d.startsWith('python'))!,
        'site-packages',
      )
    : path.join(venv, 'Lib', 'site-packages');
  const info = path.join(site, `${dist}-${version}.dist-info`);
  fs.mkdirSync(info, { recursive: true });
  fs.writeFileSync(path.join(info, 'METADATA'), `Metadata-Version: 2.1\nName: ${dist}\nVersion: ${version}\n`);
  fs.mkdirSync(path.join(site, module), { recursive: true });
  fs.writeFileSync(path.join(site, module, '__init__.py'), code);
}

test('a library that is too old or does not import is reported as broken, with the fix', async (t) => {
  const venv = path.join(tempDir(t), 'venv');
  const py = emptyVenv(venv);
  fakePackage(venv, 'transformers', '4.46.3', 'transformers', '');
  fakePackage(venv, 'accelerate', '1.15.0', 'accelerate', 'raise ImportError("needs torch>=2.0")\n');
  const probe = await probeTorchEnv({ python: py });
  assert.ok(probe.ok, !probe.ok ? probe.error : '');
  const env = probe.env;
  assert.equal(env.packages.transformers, '4.46.3');
  assert.equal(env.packages.accelerate, '1.15.0');
  assert.deepEqual(env.broken, {
    transformers: 'version 4.46.3 is older than 5.0',
    accelerate: 'ImportError: needs torch>=2.0',
  });
  assert.deepEqual(env.missing, ['torch', 'peft', 'safetensors', 'numpy', 'pillow']);
  assert.ok(
    env.message!.includes('-m pip install --upgrade torch transformers peft accelerate safetensors numpy pillow'),
    env.message!,
  );
  assert.ok(env.message!.includes('transformers: version 4.46.3 is older than 5.0'), env.message!);
  // Training's quick probe imports torch only: a library that fails on import is not seen, its version still is.
  const quick = await probeTorchEnv({ python: py, imports: 'torch' });
  assert.ok(quick.ok);
  assert.deepEqual(quick.env.broken, { transformers: 'version 4.46.3 is older than 5.0' });
});

test('a missing or broken interpreter gives one line saying what and where', async (t) => {
  const missing = await probeTorchEnv({ python: path.join(os.tmpdir(), 'no-such-python-here') });
  assert.ok(!missing.ok);
  assert.match(
    missing.error,
    /^--python .*no-such-python-here: no such program: point it at a Python 3\.10\+ interpreter$/,
  );

  const viaEnv = await probeTorchEnv({ env: { VEMBED_PYTHON: '/nonexistent/python' } });
  assert.ok(!viaEnv.ok);
  assert.match(viaEnv.error, /^VEMBED_PYTHON=\/nonexistent\/python: no such program/);

  // Nothing on PATH at all.
  const none = await probeTorchEnv({ env: { PATH: tempDir(t), XDG_CACHE_HOME: tempDir(t) } });
  assert.ok(!none.ok);
  assert.match(none.error, /^no Python found \(python3 or python on PATH\)/);

  if (!posix) return;
  const dir = tempDir(t);
  const failing = path.join(dir, 'failing-python');
  fs.writeFileSync(
    failing,
    '#!/bin/sh\necho "Traceback (most recent call last):" >&2\necho "ImportError: libpython3.so: cannot open" >&2\nexit 1\n',
    { mode: 0o755 },
  );
  const failed = await probeTorchEnv({ python: failing });
  assert.ok(!failed.ok);
  assert.equal(failed.error, `--python ${failing}: the probe failed: ImportError: libpython3.so: cannot open`);

  const chatty = path.join(dir, 'not-python');
  fs.writeFileSync(chatty, '#!/bin/sh\necho hello\n', { mode: 0o755 });
  const garbage = await probeTorchEnv({ python: chatty });
  assert.ok(!garbage.ok);
  assert.equal(garbage.error, `--python ${chatty}: its probe printed no JSON (last line: "hello")`);

  const notExecutable = path.join(dir, 'plain-file');
  fs.writeFileSync(notExecutable, 'x', { mode: 0o644 });
  const denied = await probeTorchEnv({ python: notExecutable });
  assert.ok(!denied.ok);
  assert.match(denied.error, /cannot be run \(EACCES\)/);
});

test('a probe that hangs is stopped at the timeout', { skip: !posix && 'POSIX shell script' }, async (t) => {
  const hang = path.join(tempDir(t), 'hanging-python');
  fs.writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
  const t0 = Date.now();
  const probe = await probeTorchEnv({ python: hang, timeoutMs: 500 });
  assert.ok(Date.now() - t0 < 10_000);
  assert.ok(!probe.ok);
  assert.match(probe.error, /the probe did not answer within 1 s/);
});

test('the reference environment (torch 2.13 CPU, transformers 5.18, peft 0.21): complete, CPU only, gloo', async () => {
  const probe = await probeTorchEnv({ python: referencePython() });
  assert.ok(probe.ok, !probe.ok ? probe.error : '');
  const env = probe.env;
  assert.equal(env.complete, true, env.message ?? '');
  assert.equal(env.message, null);
  assert.match(env.packages.torch!, /^2\.13\./);
  assert.match(env.packages.transformers!, /^5\./);
  assert.match(env.packages.peft!, /^0\.21\./);
  assert.ok(env.packages.accelerate && env.packages.safetensors);
  assert.ok(env.torch);
  assert.equal(env.torch.distributed.gloo, true);
  const quick = await probeTorchEnv({ python: referencePython(), imports: 'torch' });
  assert.ok(quick.ok && quick.env.complete);
  assert.deepEqual(quick.env.packages, env.packages);
  // This machine has no GPU: auto keeps the ONNX engine, torch asked for runs on the CPU.
  if (env.torch.devices.length === 0) {
    assert.equal(chooseTrainEngine('auto', probe, sightGpu()).engine, 'onnx');
    assert.equal(chooseTrainEngine('torch', probe, sightGpu()).engine, 'torch');
  }
});

test("the probe's version table follows python/pyproject.toml's dependencies", () => {
  const toml = fs.readFileSync(path.join(root, 'python', 'pyproject.toml'), 'utf8');
  const deps = JSON.parse(toml.match(/^dependencies = (\[.*\])$/m)![1].replace(/'/g, '"')) as string[];
  const names = deps.map((d) => d.match(/^[A-Za-z0-9_-]+/)![0].toLowerCase());
  assert.deepEqual([...names].sort(), [...TORCH_PACKAGES].sort());
  const probe = fs.readFileSync(path.join(root, 'python', 'vembed_torch', 'probe.py'), 'utf8');
  for (const d of deps) {
    const min = d.match(/>=\s*(\d+)(?:\.(\d+))?/);
    if (!min) continue;
    const name = d.match(/^[A-Za-z0-9_-]+/)![0];
    assert.ok(
      probe.includes(`"${name}": ("`) && probe.includes(`(${min[1]}, ${min[2] ?? 0})`),
      `${name} >= ${min[1]} in probe.py`,
    );
  }
});
