/**
 * Parse and validate training configs against the schema.
 *
 * Pure functions of text: no file system, no `vscode`. The engine's loader,
 * `vembed validate` and the extension's diagnostics all call these, so a
 * config is judged the same way everywhere.
 */
import { LineCounter, parseDocument, isMap, isScalar, isAlias, isSeq, type Node, type Pair } from 'yaml';
import {
  CONFIG_KEYS,
  SECTION_TITLES,
  allKeyNames,
  defaultConfig,
  resolveKeyName,
  seedToolKey,
  type KeySpec,
  type SeedToolKeySpec,
  type TrainConfig,
} from './schema';
import { suggest } from '../text/suggest';

/** Zero-based, as in LSP and VS Code; printers add 1. */
export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export type Severity = 'error' | 'warning' | 'info';

export type DiagnosticCode =
  | 'yaml-syntax'
  | 'yaml-alias-bomb'
  | 'too-large'
  | 'not-a-mapping'
  | 'duplicate-key'
  | 'unknown-key'
  | 'wrong-type'
  | 'out-of-range'
  | 'unknown-value'
  | 'not-implemented'
  | 'ignored-key'
  | 'seed-tool-key'
  | 'compat-value'
  | 'alias-conflict'
  | 'alias-duplicate'
  | 'lora-unused'
  | 'sampler-unused'
  | 'chunk-divisor'
  | 'bad-override'
  | 'path-missing';

/** A machine-applicable fix, turned into a code action by the extension. */
export type QuickFix =
  { kind: 'rename-key'; to: string } | { kind: 'remove-entry' } | { kind: 'set-value'; value: string };

export interface Diagnostic {
  severity: Severity;
  code: DiagnosticCode;
  message: string;
  /** The canonical key concerned, when there is one. */
  key?: string;
  /** Where in the YAML text; absent for command-line overrides. */
  range?: Range;
  fix?: QuickFix;
  /** `--set name=value` for overrides. */
  origin?: string;
}

/** One top-level `name: value` entry of a config file. */
export interface ConfigEntry {
  name: string;
  /** The key it names (through an alias or directly), if known. */
  spec?: KeySpec;
  isAlias: boolean;
  keyRange: Range;
  valueRange: Range;
  /** From the key's first character to the end of the value. */
  entryRange: Range;
  value: unknown;
}

export interface ParsedConfig {
  entries: ConfigEntry[];
  diagnostics: Diagnostic[];
}

/** Aliases expanded per document before we call it an attack (YAML "billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/**
 * Limits on a config's size. Every key of the schema with a long comment fits
 * in a few kilobytes; these leave room for comments and long lists while
 * keeping parsing and validation well under a second for anything accepted.
 */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** Keys in all the mappings of a config together (the schema has under 100). */
export const MAX_CONFIG_KEYS = 2000;

function makeRangeMapper(lc: LineCounter, textLength: number) {
  const pos = (offset: number): Position => {
    const p = lc.linePos(Math.max(0, Math.min(offset, textLength)));
    return { line: p.line - 1, character: p.col - 1 };
  };
  return (start: number, end: number): Range => ({ start: pos(start), end: pos(Math.max(start, end)) });
}

function nodeRange(node: Node | null | undefined): [number, number] | undefined {
  const r = node?.range;
  return r ? [r[0], r[1]] : undefined;
}

/** Parse the YAML and list the top-level entries, reporting syntax and structure problems. */
export function parseConfigText(text: string): ParsedConfig {
  const diagnostics: Diagnostic[] = [];
  const entries: ConfigEntry[] = [];
  if (text.length > MAX_CONFIG_BYTES) {
    diagnostics.push({
      severity: 'error',
      code: 'too-large',
      message: `This config is ${Math.round(text.length / 1024)} KB; a training config is at most ${MAX_CONFIG_BYTES / 1024} KB. Is this the right file?`,
      range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    });
    return { entries, diagnostics };
  }
  const lc = new LineCounter();
  // Duplicate keys are found below in one pass: the library's own check compares
  // each key with every earlier one (quadratic: 100k keys took over a minute).
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  const toRange = makeRangeMapper(lc, text.length);

  for (const err of doc.errors) {
    diagnostics.push({
      severity: 'error',
      code: 'yaml-syntax',
      message: `YAML syntax error: ${firstLine(err.message)}`,
      range: toRange(err.pos[0], err.pos[1]),
    });
  }
  if (doc.errors.length > 0) return { entries, diagnostics };

  const keys = mappingKeys(doc.contents);
  if (keys.count > MAX_CONFIG_KEYS) {
    diagnostics.push({
      severity: 'error',
      code: 'too-large',
      message: `This config has ${keys.count} keys; a training config has at most ${MAX_CONFIG_KEYS}. Is this the right file?`,
      range: toRange(0, 0),
    });
    return { entries, diagnostics };
  }
  for (const dup of keys.duplicates) {
    const r = nodeRange(dup) ?? [0, 0];
    diagnostics.push({
      severity: 'error',
      code: 'duplicate-key',
      message:
        'This key is set twice; YAML keeps neither silently here (PyYAML, and so vembed-factory, keeps the last). Remove one of them.',
      range: toRange(r[0], r[1]),
    });
  }
  if (keys.duplicates.length > 0) return { entries, diagnostics };

  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return { entries, diagnostics };
  if (!isMap(root)) {
    const r = nodeRange(root) ?? [0, text.length];
    diagnostics.push({
      severity: 'error',
      code: 'not-a-mapping',
      message: 'A config must be a mapping of `key: value` lines at the top level.',
      range: toRange(r[0], r[1]),
    });
    return { entries, diagnostics };
  }

  // Expanding aliases can blow up exponentially; bound it once for the whole document.
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const firstAlias = findFirstAlias(root);
    const r = nodeRange(firstAlias) ?? [0, 0];
    diagnostics.push({
      severity: 'error',
      code: 'yaml-alias-bomb',
      message: `YAML anchors/aliases expand to too much data (${(e as Error).message}). Write the values out instead of using aliases.`,
      range: toRange(r[0], r[1]),
    });
    return { entries, diagnostics };
  }

  for (const item of root.items as Pair<Node, Node | null>[]) {
    const keyNode = item.key;
    const kr = nodeRange(keyNode);
    if (!kr) continue;
    const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const vr = nodeRange(item.value) ?? [kr[1], kr[1]];
    const value = item.value ? item.value.toJS(doc, { maxAliasCount: MAX_ALIAS_COUNT }) : null;
    const resolved = resolveKeyName(name);
    entries.push({
      name,
      spec: resolved?.spec,
      isAlias: resolved?.isAlias ?? false,
      keyRange: toRange(kr[0], kr[1]),
      valueRange: toRange(vr[0], vr[1]),
      entryRange: toRange(kr[0], Math.max(kr[1], vr[1])),
      value,
    });
  }
  return { entries, diagnostics };
}

/**
 * Every mapping's keys, counted, with the second and later occurrence of a key
 * within one mapping: one pass with a set per mapping (linear in the keys).
 */
function mappingKeys(root: unknown): { count: number; duplicates: Node[] } {
  let count = 0;
  const duplicates: Node[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items as Pair<Node, Node | null>[]) {
        count++;
        const k = pair.key;
        const name = isScalar(k) ? `${typeof k.value}:${String(k.value)}` : `node:${String(k)}`;
        if (seen.has(name)) duplicates.push(k);
        else seen.add(name);
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return { count, duplicates };
}

function findFirstAlias(node: unknown): Node | undefined {
  if (isAlias(node)) return node;
  if (isMap(node) || isSeq(node)) {
    for (const item of node.items as unknown[]) {
      const found =
        isScalar(item) || isAlias(item) || isMap(item) || isSeq(item)
          ? findFirstAlias(item)
          : findFirstAlias((item as Pair).value);
      if (found) return found;
    }
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

const TYPE_WORDS: Record<KeySpec['type'], string> = {
  string: 'a string',
  path: 'a path (string)',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  'string[]': 'a list of strings',
  'string-map': 'a mapping of names to strings',
};

interface ValueProblem {
  code: DiagnosticCode;
  severity: Severity;
  message: string;
  fix?: QuickFix;
}

/** The nearest value the key accepts, for an out-of-range number. */
function nearestAllowed(spec: KeySpec, n: number): number | undefined {
  let v = n;
  if (spec.min !== undefined && v < spec.min) v = spec.min;
  if (spec.max !== undefined && v > spec.max) v = spec.max;
  if (spec.exclusiveMin !== undefined && v <= spec.exclusiveMin) return undefined;
  if (spec.multipleOf !== undefined) {
    const m = spec.multipleOf;
    v = Math.round(v / m) * m;
    if (spec.min !== undefined && v < spec.min) v += m;
    if (spec.max !== undefined && v > spec.max) v -= m;
  }
  if (spec.type === 'integer') v = Math.round(v);
  return v;
}

/** Check one value against its key's spec. Returns the problems (empty when valid). */
export function checkValue(spec: KeySpec, value: unknown): ValueProblem[] {
  const k = spec.key;
  if (value === null) {
    if (spec.nullable) return [];
    return [{ code: 'wrong-type', severity: 'error', message: `\`${k}\` must be ${TYPE_WORDS[spec.type]}, not null.` }];
  }
  const wrong = (hint = ''): ValueProblem[] => [
    {
      code: 'wrong-type',
      severity: 'error',
      message: `\`${k}\` must be ${TYPE_WORDS[spec.type]}, got ${describe(value)}.${hint}`,
    },
  ];
  switch (spec.type) {
    case 'string':
    case 'path':
      if (typeof value !== 'string') return wrong(typeof value === 'number' ? ' Quote it if you mean text.' : '');
      break;
    case 'boolean':
      if (typeof value !== 'boolean') {
        const hint =
          typeof value === 'string' && /^(yes|no|on|off|y|n)$/i.test(value)
            ? ' YAML 1.2 reads yes/no/on/off as strings: write true or false.'
            : '';
        return wrong(hint);
      }
      return [];
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        const hint =
          typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))
            ? ' Remove the quotes.'
            : '';
        return wrong(hint);
      }
      if (spec.type === 'integer' && !Number.isInteger(value)) return wrong();
      return checkRange(spec, value);
    }
    case 'string[]':
      if (!Array.isArray(value) || value.some((x) => typeof x !== 'string')) {
        return wrong(typeof value === 'string' ? ` Write it as a list: [${value}].` : '');
      }
      if (spec.minItems !== undefined && value.length < spec.minItems) {
        return [
          {
            code: 'out-of-range',
            severity: 'error',
            message: `\`${k}\` must list at least ${spec.minItems} item(s)${spec.nullable ? ' (or be null for the default)' : ''}.`,
          },
        ];
      }
      return [];
    case 'string-map':
      if (
        typeof value !== 'object' ||
        Array.isArray(value) ||
        Object.values(value as object).some((x) => typeof x !== 'string')
      )
        return wrong();
      if (spec.mapKeys) {
        for (const name of Object.keys(value as object)) {
          if (!spec.mapKeys.includes(name)) {
            const s = suggest(name, spec.mapKeys);
            return [
              {
                code: 'unknown-key',
                severity: 'error',
                message: `\`${k}\` has no entry \`${name}\`.${s ? ` Did you mean \`${s}\`?` : ''} Allowed: ${spec.mapKeys.join(', ')}.`,
              },
            ];
          }
        }
      }
      return [];
  }
  // Strings: enum membership.
  if (spec.enum) {
    const hit = spec.enum.find((e) => e.value === value);
    if (!hit) {
      const values = spec.enum.filter((e) => e.implemented !== false).map((e) => e.value);
      const s = suggest(
        value as string,
        spec.enum.map((e) => e.value),
      );
      return [
        {
          code: 'unknown-value',
          severity: 'error',
          message: `\`${k}: ${String(value)}\` is not a known value.${s ? ` Did you mean \`${s}\`?` : ''} Allowed: ${values.join(', ')}.`,
          ...(s ? { fix: { kind: 'set-value', value: s } as QuickFix } : {}),
        },
      ];
    }
    if (hit.compatNote) return [{ code: 'compat-value', severity: 'warning', message: hit.compatNote }];
    if (hit.implemented === false) {
      const values = spec.enum.filter((e) => e.implemented !== false).map((e) => e.value);
      return [
        {
          code: 'not-implemented',
          severity: 'error',
          message: `\`${k}: ${hit.value}\` (${hit.doc.replace(/\.$/, '')}) is not implemented by vembed, which fine-tunes image encoders for search by image. Use ${values.map((v) => `\`${v}\``).join(' or ')}.`,
          fix: { kind: 'set-value', value: String(spec.default) },
        },
      ];
    }
  }
  return [];
}

/** The numeric limits of a key (or of a command-line flag that takes the same values). */
export type NumberBounds = Pick<KeySpec, 'min' | 'max' | 'exclusiveMin' | 'multipleOf'>;

/**
 * Why `n` is outside `bounds` ("must be >= 1 and <= 65536"), or undefined
 * when it is inside. Config values and command-line flags are judged by this
 * one function, so `--batch_size 0` and `eval_batch_size: 0` get the same rule.
 */
export function boundsProblem(bounds: NumberBounds, n: number): string | undefined {
  const limits: string[] = [];
  if (bounds.exclusiveMin !== undefined) limits.push(`> ${bounds.exclusiveMin}`);
  if (bounds.min !== undefined) limits.push(`>= ${bounds.min}`);
  if (bounds.max !== undefined) limits.push(`<= ${bounds.max}`);
  const outside =
    (bounds.exclusiveMin !== undefined && n <= bounds.exclusiveMin) ||
    (bounds.min !== undefined && n < bounds.min) ||
    (bounds.max !== undefined && n > bounds.max);
  if (outside) return `must be ${limits.join(' and ')}`;
  if (bounds.multipleOf !== undefined && n % bounds.multipleOf !== 0)
    return `must be a multiple of ${bounds.multipleOf}`;
  return undefined;
}

function checkRange(spec: KeySpec, n: number): ValueProblem[] {
  const k = spec.key;
  const what = boundsProblem(spec, n);
  if (what === undefined) return [];
  const near = nearestAllowed(spec, n);
  return [
    {
      code: 'out-of-range',
      severity: 'error',
      message: `\`${k}: ${n}\` ${what}.${near !== undefined ? ` The nearest allowed value is ${near}.` : ''}`,
      ...(near !== undefined ? { fix: { kind: 'set-value', value: String(near) } as QuickFix } : {}),
    },
  ];
}

/** A map from canonical key to the value found, for the entries that passed. */
export type ConfigValues = Partial<Record<keyof TrainConfig, unknown>>;

export interface ValidationResult {
  entries: ConfigEntry[];
  diagnostics: Diagnostic[];
  /** Valid values by canonical key (aliases folded in). */
  values: ConfigValues;
}

/** Validate a config file's text: syntax, keys, types, ranges, and checks across keys. */
export function validateConfigText(text: string): ValidationResult {
  const { entries, diagnostics } = parseConfigText(text);
  const values: ConfigValues = {};
  const seen = new Map<string, ConfigEntry>(); // canonical key -> entry that set it
  const names = allKeyNames();

  for (const entry of entries) {
    const spec = entry.spec;
    const foreign = spec ? undefined : seedToolKey(entry.name);
    if (foreign) {
      diagnostics.push({
        ...seedToolDiagnostic(foreign, entry.value),
        range: entry.keyRange,
        fix: { kind: 'remove-entry' },
      });
      continue;
    }
    if (!spec) {
      const s = suggest(entry.name, names);
      diagnostics.push({
        severity: 'error',
        code: 'unknown-key',
        message: `Unknown key \`${entry.name}\`.${s ? ` Did you mean \`${s}\`?` : ''} Unknown keys are not ignored: remove it or fix its name.`,
        range: entry.keyRange,
        ...(s ? { fix: { kind: 'rename-key', to: s } as QuickFix } : { fix: { kind: 'remove-entry' } as QuickFix }),
      });
      continue;
    }
    const problems = checkValue(spec, entry.value);
    // Warnings (a value kept for compatibility) leave the value in force; errors drop it.
    const valid = problems.every((p) => p.severity !== 'error');
    for (const p of problems) {
      diagnostics.push({
        severity: p.severity,
        code: p.code,
        message: p.message,
        key: spec.key,
        range: entry.valueRange,
        ...(p.fix ? { fix: p.fix } : {}),
      });
    }
    if (spec.implemented === 'no' && valid && JSON.stringify(entry.value) !== JSON.stringify(spec.default)) {
      diagnostics.push({
        severity: 'warning',
        code: 'ignored-key',
        message: `\`${spec.key}\` has no effect in vembed: ${spec.note ?? 'not implemented.'}`,
        key: spec.key,
        range: entry.keyRange,
        fix: { kind: 'remove-entry' },
      });
    }

    const earlier = seen.get(spec.key);
    if (earlier) {
      const alias = entry.isAlias ? entry : earlier;
      const canonical = entry.isAlias ? earlier : entry;
      const same = JSON.stringify(earlier.value) === JSON.stringify(entry.value);
      diagnostics.push({
        severity: same ? 'warning' : 'error',
        code: same ? 'alias-duplicate' : 'alias-conflict',
        message: same
          ? `\`${alias.name}\` repeats \`${canonical.name}\` (line ${canonical.keyRange.start.line + 1}) with the same value. Remove one.`
          : `Both \`${alias.name}\` (line ${alias.keyRange.start.line + 1}) and \`${canonical.name}\` (line ${canonical.keyRange.start.line + 1}) are set, to different values (${JSON.stringify(alias.value)} and ${JSON.stringify(canonical.value)}). They are the same setting: keep one.`,
        key: spec.key,
        range: alias.keyRange,
        fix: { kind: 'remove-entry' },
      });
      if (!entry.isAlias && valid) values[spec.key as keyof TrainConfig] = entry.value;
      continue;
    }
    seen.set(spec.key, entry);
    if (valid) values[spec.key as keyof TrainConfig] = entry.value;
  }

  diagnostics.push(...crossKeyChecks(values, (key) => seen.get(key)));
  return { entries, diagnostics, values };
}

/**
 * What a key of vembed-factory that vembed does not implement gets: a warning
 * when its value asks for nothing (it has no effect), an error when it turns on
 * a feature vembed does not have.
 */
export function seedToolDiagnostic(
  spec: SeedToolKeySpec,
  value: unknown,
): Pick<Diagnostic, 'severity' | 'code' | 'message'> {
  const inert = spec.inert === 'any' || spec.inert.some((v) => JSON.stringify(v) === JSON.stringify(value));
  const what = `\`${spec.key}\` (vembed-factory: ${spec.meaning.replace(/\.$/, '')})`;
  return inert
    ? {
        severity: 'warning',
        code: 'seed-tool-key',
        message: `${what} has no effect in vembed: ${spec.instead} Remove it, or keep it for vembed-factory.`,
      }
    : {
        severity: 'error',
        code: 'seed-tool-key',
        message: `\`${spec.key}: ${JSON.stringify(value)}\` is not supported in vembed: ${spec.feature} is not implemented. ${spec.instead}${spec.inert.length ? ` Remove it or set it to ${spec.inert.map((v) => JSON.stringify(v)).join(' or ')}.` : ''}`,
      };
}

/** Checks that involve more than one key. `entryOf` locates a key in the file, when it is there. */
function crossKeyChecks(values: ConfigValues, entryOf: (key: string) => ConfigEntry | undefined): Diagnostic[] {
  const out: Diagnostic[] = [];
  const merged = { ...defaultConfig(), ...values } as TrainConfig;
  // A key that is present but invalid already has its error; don't reason from its default.
  const known = (key: keyof TrainConfig) => !entryOf(key) || key in values;
  if (known('use_lora') && !merged.use_lora) {
    for (const spec of CONFIG_KEYS) {
      if (spec.section !== 'lora' || spec.key === 'use_lora') continue;
      const e = entryOf(spec.key);
      if (e) {
        out.push({
          severity: 'warning',
          code: 'lora-unused',
          message: `\`${spec.key}\` is set but \`use_lora\` is false, so it has no effect. Set \`use_lora: true\` or remove it.`,
          key: spec.key,
          range: e.keyRange,
        });
      }
    }
  }
  // The m_per_product sampler's keys do nothing under the random sampler: say so rather than train as if they did.
  if (known('batch_sampler') && merged.batch_sampler !== 'm_per_product') {
    for (const key of ['images_per_product', 'group_by_super_label', 'hard_negative_mining'] as const) {
      const e = entryOf(key);
      if (e)
        out.push({
          severity: 'warning',
          code: 'sampler-unused',
          message: `\`${key}\` is set but \`batch_sampler\` is \`${merged.batch_sampler}\`, so it has no effect. Set \`batch_sampler: m_per_product\` or remove it.`,
          key,
          range: e.keyRange,
        });
    }
  }
  const cacheKeys = ['use_gradient_cache', 'batch_size', 'gradient_cache_chunk_size'] as const;
  if (
    cacheKeys.every(known) &&
    merged.use_gradient_cache &&
    merged.batch_size % merged.gradient_cache_chunk_size !== 0
  ) {
    const e = entryOf('gradient_cache_chunk_size') ?? entryOf('batch_size');
    out.push({
      severity: 'warning',
      code: 'chunk-divisor',
      message: `\`batch_size\` (${merged.batch_size}) is not a multiple of \`gradient_cache_chunk_size\` (${merged.gradient_cache_chunk_size}); the last chunk of every batch is smaller, which wastes time.`,
      key: e?.spec?.key ?? 'gradient_cache_chunk_size',
      ...(e ? { range: e.valueRange } : {}),
    });
  }
  return out;
}

/**
 * Parse one `--set name=value` override. The value is read as YAML (so
 * `[query, value]`, `null`, `1e-4` work) and coerced to the key's type where
 * that is unambiguous (`--set model_name=123` is the string "123").
 */
export function parseOverride(arg: string): { spec?: KeySpec; value?: unknown; diagnostics: Diagnostic[] } {
  const origin = `--set ${arg}`;
  const eq = arg.indexOf('=');
  if (eq <= 0) {
    return {
      diagnostics: [{ severity: 'error', code: 'bad-override', origin, message: `\`${origin}\`: expected key=value.` }],
    };
  }
  const name = arg.slice(0, eq).trim();
  const raw = arg.slice(eq + 1);
  const resolved = resolveKeyName(name);
  const foreign = resolved ? undefined : seedToolKey(name);
  if (foreign) {
    // Parsed as YAML so that `--set use_mrl=false` is judged like the file's `use_mrl: false`.
    const d = seedToolDiagnostic(foreign, yamlValue(arg.slice(eq + 1)));
    return { diagnostics: [{ ...d, message: `\`${origin}\`: ${d.message}`, origin }] };
  }
  if (!resolved) {
    const s = suggest(name, allKeyNames());
    return {
      diagnostics: [
        {
          severity: 'error',
          code: 'unknown-key',
          origin,
          message: `\`${origin}\`: unknown key \`${name}\`.${s ? ` Did you mean \`${s}\`?` : ''}`,
        },
      ],
    };
  }
  const spec = resolved.spec;
  let value = yamlValue(raw);
  if (
    (spec.type === 'string' || spec.type === 'path') &&
    value !== null &&
    typeof value !== 'string' &&
    typeof value !== 'object'
  )
    value = raw.trim();
  if (spec.type === 'string[]' && typeof value === 'string')
    value = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const diagnostics = checkValue(spec, value).map((p): Diagnostic => ({
    severity: p.severity,
    code: p.code,
    message: `\`${origin}\`: ${p.message}`,
    key: spec.key,
    origin,
  }));
  return diagnostics.some((d) => d.severity === 'error') ? { spec, diagnostics } : { spec, value, diagnostics };
}

/** A command-line value read as YAML; the raw text when it is not valid YAML. */
function yamlValue(raw: string): unknown {
  const doc = parseDocument(raw, { prettyErrors: false });
  if (doc.errors.length > 0) return raw;
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch {
    return raw;
  }
}

export interface LoadedConfig {
  /** Undefined when any diagnostic is an error. */
  config?: TrainConfig;
  diagnostics: Diagnostic[];
}

/** Defaults < YAML text < command-line overrides. Returns a config only if nothing is an error. */
export function loadConfigText(text: string | null, overrides: readonly string[] = []): LoadedConfig {
  const fileResult =
    text === null ? { diagnostics: [] as Diagnostic[], values: {} as ConfigValues } : validateConfigText(text);
  const diagnostics = [...fileResult.diagnostics];
  const merged: Record<string, unknown> = { ...defaultConfig(), ...fileResult.values };
  for (const o of overrides) {
    const r = parseOverride(o);
    diagnostics.push(...r.diagnostics);
    if (r.spec && 'value' in r) merged[r.spec.key] = r.value;
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  return { config: merged as unknown as TrainConfig, diagnostics };
}

/** `file:line:col: severity: message`, one-based, as compilers print. */
export function formatDiagnostic(d: Diagnostic, file: string): string {
  const where = d.range
    ? `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}`
    : d.origin
      ? 'command line'
      : file;
  return `${where}: ${d.severity}: ${d.message}`;
}

/** Sections in schema order, for documentation and completion grouping. */
export function keysBySection(): { title: string; keys: KeySpec[] }[] {
  return (Object.keys(SECTION_TITLES) as (keyof typeof SECTION_TITLES)[]).map((s) => ({
    title: SECTION_TITLES[s],
    keys: (CONFIG_KEYS as readonly KeySpec[]).filter((k) => k.section === s),
  }));
}
