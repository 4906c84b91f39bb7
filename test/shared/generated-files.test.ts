import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENERATED_FILES } from '../../scripts/gen-config-docs';
import { CONFIG_KEYS } from '../../src/shared/config/schema';

const root = path.resolve(__dirname, '../..');

test('the committed JSON Schema and config reference are generated from the current schema', () => {
  for (const [file, make] of Object.entries(GENERATED_FILES)) {
    const committed = fs.readFileSync(path.join(root, file), 'utf8');
    assert.equal(committed, make(), `${file} is stale: run \`npm run gen\``);
  }
});

test('the JSON Schema lists every key and alias, and nothing else', () => {
  const schema = JSON.parse(fs.readFileSync(path.join(root, 'schemas/vembed-config.schema.json'), 'utf8'));
  const expected = CONFIG_KEYS.flatMap((s) => [s.key, ...((s as { aliases?: readonly string[] }).aliases ?? [])]).sort();
  assert.deepEqual(Object.keys(schema.properties).sort(), expected);
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.properties.loss_type.enum, ['infonce', 'triplet'], 'only implemented values are offered');
});
