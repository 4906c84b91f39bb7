// The flags the extension gives `vembed train` and `vembed doctor` for the training engine settings and
// "Train with...", checked against the CLI's own option specs, so a renamed option fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ENGINE_SETTING_VALUES,
  MAX_PROCESSES,
  normaliseTrainingSettings,
  processCountProblem,
  pythonFlags,
  trainingFlags,
} from '../../src/extension/engineClient/trainFlags';
import { parseArgs } from '../../src/engine/cli/args';
import { trainCommand } from '../../src/engine/cli/commands/train';
import { doctorCommand } from '../../src/engine/cli/commands/doctor';
import { ENGINE_SETTINGS } from '../../src/engine/torch/engineChoice';

const root = path.resolve(__dirname, '../..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const settings = manifest.contributes.configuration.properties;

const DEFAULTS = normaliseTrainingSettings({});

test('the settings are contributed with the values the extension reads', () => {
  assert.deepEqual(settings['vembed.training.engine'].enum, [...ENGINE_SETTING_VALUES]);
  assert.deepEqual([...ENGINE_SETTING_VALUES], [...ENGINE_SETTINGS], "the engine's own choice reads the same values");
  assert.equal(settings['vembed.training.engine'].default, DEFAULTS.engine);
  assert.equal(settings['vembed.training.numProcesses'].default, DEFAULTS.numProcesses);
  assert.equal(settings['vembed.training.numProcesses'].maximum, MAX_PROCESSES);
  assert.equal(settings['vembed.pythonPath'].default, DEFAULTS.pythonPath);
  // A workspace cannot point vembed at a program to run before it is trusted.
  assert.equal(settings['vembed.pythonPath'].scope, 'machine-overridable');
  assert.ok(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations.includes('vembed.pythonPath'));
});

test('defaults pass no engine flag: the config decides', () => {
  assert.deepEqual(DEFAULTS, { engine: 'auto', numProcesses: 1, pythonPath: '' });
  assert.deepEqual(trainingFlags(DEFAULTS, undefined), []);
  assert.deepEqual(trainingFlags(DEFAULTS, 'onnx'), []);
  // A config that says torch gets the process count the settings give.
  assert.deepEqual(trainingFlags({ ...DEFAULTS, numProcesses: 4 }, 'torch'), ['--num_processes', '4']);
});

test('with the setting and the config both auto, a process count other than 1 is passed: auto may pick torch', () => {
  const four = { ...DEFAULTS, numProcesses: 4 };
  // No engine key, or `engine: auto`: the CLI applies it when auto picks torch and says it is ignored on onnx.
  assert.deepEqual(trainingFlags(four, undefined), ['--num_processes', '4']);
  assert.deepEqual(trainingFlags(four, 'auto'), ['--num_processes', '4']);
  // The default count is the engine's own default: nothing to pass, nothing to warn about.
  assert.deepEqual(trainingFlags(DEFAULTS, 'auto'), []);
  // A config that says onnx is never a torch run: the engine would refuse the flag.
  assert.deepEqual(trainingFlags(four, 'onnx'), []);
  // "Train with..." → auto with a count, over an onnx setting.
  assert.deepEqual(trainingFlags({ ...DEFAULTS, engine: 'onnx' }, undefined, { engine: 'auto', numProcesses: 2 }), [
    '--num_processes',
    '2',
  ]);
});

test('an engine setting is passed as --engine, with processes for torch only, and --python when set', () => {
  const torch = normaliseTrainingSettings({ engine: 'torch', numProcesses: 4, pythonPath: ' /opt/venv/bin/python ' });
  assert.deepEqual(trainingFlags(torch, 'onnx'), [
    '--engine',
    'torch',
    '--num_processes',
    '4',
    '--python',
    '/opt/venv/bin/python',
  ]);
  const onnx = normaliseTrainingSettings({ engine: 'onnx', numProcesses: 4 });
  assert.deepEqual(
    trainingFlags(onnx, 'torch'),
    ['--engine', 'onnx'],
    'the engine refuses --num_processes without torch',
  );
  assert.deepEqual(pythonFlags(torch), ['--python', '/opt/venv/bin/python']);
  assert.deepEqual(pythonFlags(DEFAULTS), []);
});

test('"Train with..." overrides the settings for one run', () => {
  const s = normaliseTrainingSettings({ engine: 'onnx', numProcesses: 2 });
  assert.deepEqual(trainingFlags(s, undefined, { engine: 'torch', numProcesses: 8 }), [
    '--engine',
    'torch',
    '--num_processes',
    '8',
  ]);
  assert.deepEqual(trainingFlags(s, undefined, { engine: 'torch' }), ['--engine', 'torch', '--num_processes', '2']);
  assert.deepEqual(trainingFlags(s, 'torch', { engine: 'auto' }), ['--num_processes', '2']);
});

test('bad setting values read as the defaults', () => {
  assert.deepEqual(normaliseTrainingSettings({ engine: 'pytorch', numProcesses: 0, pythonPath: 3 }), DEFAULTS);
  assert.equal(normaliseTrainingSettings({ numProcesses: 2.5 }).numProcesses, 1);
  assert.equal(normaliseTrainingSettings({ numProcesses: MAX_PROCESSES + 1 }).numProcesses, 1);
  assert.equal(processCountProblem('4'), undefined);
  assert.equal(processCountProblem(' 16 '), undefined);
  for (const bad of ['0', '-1', '2.5', 'four', '', String(MAX_PROCESSES + 1)])
    assert.match(processCountProblem(bad)!, /whole number from 1 to 256/, bad);
});

test('under auto, --num_processes is an option the real train command takes', () => {
  const auto = parseArgs(
    ['--config', 'c.yaml', ...trainingFlags({ ...DEFAULTS, numProcesses: 3 }, 'auto')],
    trainCommand.options,
  );
  assert.deepEqual([auto.options.engine, String(auto.options.num_processes)], [undefined, '3']);
});

test('the flags are options of the real train and doctor commands', () => {
  const s = normaliseTrainingSettings({ engine: 'torch', numProcesses: 4, pythonPath: '/opt/py' });
  const train = parseArgs(['--config', 'c.yaml', ...trainingFlags(s, undefined)], trainCommand.options);
  assert.deepEqual(
    [train.options.engine, String(train.options.num_processes), train.options.python],
    ['torch', '4', '/opt/py'],
  );
  const doctor = parseArgs(pythonFlags(s), doctorCommand.options);
  assert.equal(doctor.options.python, '/opt/py');
});
