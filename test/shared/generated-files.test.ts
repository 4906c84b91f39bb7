import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENERATED_FILES } from '../../scripts/gen-config-docs';
import { CONFIG_KEYS, SEED_TOOL_KEYS } from '../../src/shared/config/schema';

const root = path.resolve(__dirname, '../..');

test('the committed JSON Schema and config reference are generated from the current schema', () => {
  for (const [file, make] of Object.entries(GENERATED_FILES)) {
    const committed = fs.readFileSync(path.join(root, file), 'utf8');
    assert.equal(committed, make(), `${file} is stale: run \`npm run gen\``);
  }
});

test("the JSON Schema lists every key and alias, vembed-factory's keys vembed recognises, and nothing else", () => {
  const schema = JSON.parse(fs.readFileSync(path.join(root, 'schemas/vembed-config.schema.json'), 'utf8'));
  const expected = [
    ...CONFIG_KEYS.flatMap((s) => [s.key, ...((s as { aliases?: readonly string[] }).aliases ?? [])]),
    ...SEED_TOOL_KEYS.map((s) => s.key),
  ].sort();
  assert.deepEqual(Object.keys(schema.properties).sort(), expected);
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.properties.loss_type.enum, ['infonce', 'triplet'], 'only implemented values are offered');
});

test('the schema VS Code gets through yamlValidation documents but never validates (vembed reports the problems)', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const url = manifest.contributes.yamlValidation[0].url as string;
  const schema = JSON.parse(fs.readFileSync(path.join(root, url), 'utf8'));
  const validating = [
    'enum',
    'minimum',
    'maximum',
    'exclusiveMinimum',
    'multipleOf',
    'type',
    'anyOf',
    'items',
    'propertyNames',
    'minItems',
  ];
  assert.notEqual(schema.additionalProperties, false);
  for (const [key, prop] of Object.entries(schema.properties as Record<string, Record<string, unknown>>)) {
    for (const k of validating) assert.equal(prop[k], undefined, `${key}.${k}`);
    assert.ok(typeof prop.markdownDescription === 'string' && prop.markdownDescription.length > 0, key);
  }
  assert.deepEqual(schema.properties.loss_type.examples, ['infonce', 'triplet']);
  assert.deepEqual(schema.properties.model_name.examples.slice(0, 1), ['facebook/dinov2-small']);
});
