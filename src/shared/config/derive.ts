/**
 * Artifacts derived from the schema table: the JSON Schema shipped for other
 * YAML tools, and the Markdown config reference. `npm run gen` writes both;
 * a test checks the committed copies are current.
 */
import { CONFIG_KEYS, PATH_BASE_NOTE, SEED_TOOL_KEYS, type KeySpec, type SeedToolKeySpec } from './schema';
import { keysBySection } from './validate';

type JsonSchema = Record<string, unknown>;

function valueSchema(spec: KeySpec): JsonSchema {
  const s: JsonSchema = {};
  switch (spec.type) {
    case 'string':
    case 'path':
      s.type = 'string';
      break;
    case 'integer':
      s.type = 'integer';
      break;
    case 'number':
      s.type = 'number';
      break;
    case 'boolean':
      s.type = 'boolean';
      break;
    case 'string[]':
      s.type = 'array';
      s.items = { type: 'string' };
      if (spec.minItems !== undefined) s.minItems = spec.minItems;
      break;
    case 'string-map':
      s.type = 'object';
      s.additionalProperties = { type: 'string' };
      if (spec.mapKeys) s.propertyNames = { enum: [...spec.mapKeys] };
      break;
  }
  if (spec.enum) s.enum = spec.enum.filter((e) => e.implemented !== false).map((e) => e.value);
  if (spec.min !== undefined) s.minimum = spec.min;
  if (spec.max !== undefined) s.maximum = spec.max;
  if (spec.exclusiveMin !== undefined) s.exclusiveMinimum = spec.exclusiveMin;
  if (spec.multipleOf !== undefined) s.multipleOf = spec.multipleOf;
  if (spec.nullable) return { anyOf: [s, { type: 'null' }] };
  return s;
}

/**
 * The editor variant: documentation, defaults and suggested values only, no
 * validation keywords. VS Code's YAML extension takes it through the
 * `yamlValidation` contribution for hover and completion, while every
 * diagnostic comes from vembed itself, so the two never report the same
 * problem twice or disagree.
 */
function editorSchema(spec: KeySpec): JsonSchema {
  const suggestions = [
    ...(spec.enum?.filter((e) => e.implemented !== false).map((e) => e.value) ?? []),
    ...(spec.type === 'boolean' ? [true, false] : []),
    ...(spec.examples ?? []),
  ];
  return suggestions.length > 0 ? { examples: suggestions } : {};
}

/**
 * JSON Schema (draft-07, what the YAML extension understands) for training
 * configs: `strict` for other YAML tools (it validates), otherwise the editor
 * variant (see editorSchema).
 */
export function toJsonSchema(variant: 'strict' | 'editor' = 'strict'): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const shape = variant === 'strict' ? valueSchema : editorSchema;
  for (const spec of CONFIG_KEYS as readonly KeySpec[]) {
    const description = `${spec.summary}\n\n${spec.doc}`;
    properties[spec.key] = { ...shape(spec), description, markdownDescription: description, default: spec.default };
    for (const alias of spec.aliases ?? []) {
      properties[alias] = {
        ...shape(spec),
        description: `Alias of \`${spec.key}\`. ${spec.summary}`,
        markdownDescription: `Alias of \`${spec.key}\`. ${spec.summary}`,
      };
    }
  }
  // vembed-factory's keys are accepted (with a warning) where their value asks for nothing vembed lacks.
  for (const spec of SEED_TOOL_KEYS as readonly SeedToolKeySpec[]) {
    const description = `vembed-factory key, not supported in vembed (${spec.feature}): ${spec.instead}`;
    const values = variant === 'strict' && spec.inert !== 'any' ? { enum: [...spec.inert] } : {};
    properties[spec.key] = { ...values, description, markdownDescription: description };
  }
  const name = variant === 'strict' ? 'vembed-config.schema.json' : 'vembed-config.editor.schema.json';
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://vembed.invalid/schemas/${name}`,
    title: 'vembed training config',
    description: `Fine-tuning config for image-to-image retrieval (generated from src/shared/config/schema.ts; do not edit).${variant === 'editor' ? ' Editor variant: documentation only; vembed reports the problems.' : ''}`,
    type: 'object',
    ...(variant === 'strict' ? { additionalProperties: false } : {}),
    properties,
  };
}

function cell(v: unknown): string {
  const s = v === null ? 'null' : typeof v === 'string' ? v : JSON.stringify(v);
  return s.replace(/\|/g, '\\|');
}

function allowed(spec: KeySpec): string {
  const parts: string[] = [];
  if (spec.enum) {
    parts.push(spec.enum.map((e) => (e.implemented === false ? `~~\`${e.value}\`~~` : `\`${e.value}\``)).join(', '));
  }
  const range: string[] = [];
  if (spec.exclusiveMin !== undefined) range.push(`> ${spec.exclusiveMin}`);
  if (spec.min !== undefined) range.push(`>= ${spec.min}`);
  if (spec.max !== undefined) range.push(`<= ${spec.max}`);
  if (spec.multipleOf !== undefined) range.push(`multiple of ${spec.multipleOf}`);
  if (range.length) parts.push(range.join(', '));
  if (spec.mapKeys) parts.push(`keys: ${spec.mapKeys.map((k) => `\`${k}\``).join(', ')}`);
  if (spec.nullable) parts.push('or `null`');
  return parts.join('; ');
}

/** The Markdown reference of every key, grouped by section. */
export function toMarkdownReference(): string {
  const out: string[] = [
    '# Config reference',
    '',
    '<!-- Generated from src/shared/config/schema.ts by `npm run gen`. Do not edit by hand. -->',
    '',
    'Values merge in this order: built-in defaults < the YAML file < command-line `--set key=value` overrides.',
    `${PATH_BASE_NOTE} Unknown keys are errors, not silently ignored. Values struck through are recognised from the Python tool but not implemented here; using them is an error that says so.`,
    '',
  ];
  for (const { title, keys } of keysBySection()) {
    out.push(`## ${title}`, '', '| key | type | default | allowed | |', '|---|---|---|---|---|');
    for (const spec of keys) {
      const name = `\`${spec.key}\`${spec.aliases?.length ? ` (alias ${spec.aliases.map((a) => `\`${a}\``).join(', ')})` : ''}`;
      const impl = spec.implemented === 'no' ? ' **Not implemented: accepted and ignored, with a warning.**' : '';
      out.push(
        `| ${name} | ${spec.type} | \`${cell(spec.default)}\` | ${allowed(spec)} | ${cell(spec.summary)}${impl} |`,
      );
    }
    out.push('');
    for (const spec of keys) {
      out.push(`### \`${spec.key}\``, '', spec.doc, '');
      if (spec.enum) {
        for (const e of spec.enum)
          out.push(`- \`${e.value}\`: ${e.doc}${e.implemented === false ? ' (not implemented)' : ''}`);
        out.push('');
      }
      if (spec.note) out.push(`Note: ${spec.note}`, '');
    }
  }
  out.push(
    '## Keys of vembed-factory that vembed does not support',
    '',
    'Configs written for the Python tool this project replaces are read with these keys recognised: where the value asks for nothing vembed lacks, the key has no effect and `vembed validate` warns; where it turns on a feature vembed does not have, it is an error that says so.',
    '',
    '| key | feature | in vembed-factory | in vembed | accepted with a warning |',
    '|---|---|---|---|---|',
  );
  for (const spec of SEED_TOOL_KEYS as readonly SeedToolKeySpec[]) {
    const inert = spec.inert === 'any' ? 'any value' : spec.inert.map((v) => `\`${cell(v)}\``).join(', ');
    out.push(`| \`${spec.key}\` | ${spec.feature} | ${cell(spec.meaning)} | ${cell(spec.instead)} | ${inert} |`);
  }
  out.push('');
  return out.join('\n');
}
