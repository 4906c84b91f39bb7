import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMAND_IDS } from '../../src/extension/commandIds';

const root = path.resolve(__dirname, '../..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('every command is contributed in the vembed category and known to the extension', () => {
  const contributed = manifest.contributes.commands as { command: string; title: string; category: string }[];
  assert.deepEqual(contributed.map((c) => c.command).sort(), Object.values(COMMAND_IDS).sort());
  for (const c of contributed) assert.equal(c.category, 'vembed', c.command);
});

test('settings live under one prefix', () => {
  const keys = Object.keys(manifest.contributes.configuration.properties);
  assert.ok(keys.length > 0);
  for (const k of keys) assert.match(k, /^vembed\./);
});

test('activation on the config files, and limited support in untrusted workspaces', () => {
  assert.ok(manifest.activationEvents.includes('workspaceContains:**/*_i2i.yaml'));
  assert.equal(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
  assert.ok(fs.existsSync(path.join(root, manifest.contributes.yamlValidation[0].url)));
});

test('the native TensorFlow packages stay optional', () => {
  for (const dep of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    assert.equal(manifest.dependencies[dep], undefined, dep);
    assert.equal(manifest.peerDependenciesMeta[dep].optional, true, dep);
  }
});
