/**
 * Completion in a training config: keys not yet present, values of the key
 * under the cursor (enum values, booleans, null, known model ids, list items,
 * column names) and file/folder paths for path keys.
 *
 * Configs are flat mappings, so the context is read from the cursor's line (and
 * the nearest top-level key above it for indented list or map items) rather
 * than from a full parse, which keeps completion working while the file is
 * half-typed and not valid YAML.
 */
import { CONFIG_KEYS, SECTION_TITLES, resolveKeyName, type KeySpec, type Section } from '../config/schema';
import type { Position, Range } from '../config/validate';
import { describeKey, toYaml } from './describe';

export type CompletionKind = 'key' | 'value' | 'file' | 'folder';

export interface CompletionItem {
  label: string;
  kind: CompletionKind;
  /** Replaces `range`. */
  insertText: string;
  range: Range;
  detail?: string;
  /** Markdown. */
  documentation?: string;
  /** Orders the list: schema order, implemented things first. */
  sortText: string;
}

export interface DirEntry {
  name: string;
  isDir: boolean;
}

export interface CompletionEnv {
  /** Entries of a folder given relative to the workspace ('' = its root); undefined if missing. */
  listDir?(relativeDir: string): DirEntry[] | undefined;
}

const TOP_KEY = /^([A-Za-z_][\w-]*)\s*:/;
const SECTION_ORDER = Object.keys(SECTION_TITLES) as Section[];
const SPECS = CONFIG_KEYS as readonly KeySpec[];

function lineRange(line: number, start: number, end: number): Range {
  return { start: { line, character: start }, end: { line, character: end } };
}

/** The canonical keys a document already sets (aliases count for their key). */
function presentKeys(lines: readonly string[]): Set<string> {
  const present = new Set<string>();
  for (const l of lines) {
    const m = TOP_KEY.exec(l);
    const spec = m ? resolveKeyName(m[1]!)?.spec : undefined;
    if (spec) present.add(spec.key);
  }
  return present;
}

/** The top-level key that owns an indented line, scanning upwards. */
function parentKey(lines: readonly string[], line: number): KeySpec | undefined {
  for (let i = line - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (/^\s*(#|$)/.test(l)) continue;
    if (/^\S/.test(l)) {
      const m = TOP_KEY.exec(l);
      return m ? resolveKeyName(m[1]!)?.spec : undefined;
    }
  }
  return undefined;
}

/** End of the value on a line: before a trailing ` # comment`, trailing spaces trimmed. */
function valueEnd(line: string, from: number): number {
  let inQuote: string | undefined;
  let end = line.length;
  for (let i = from; i < line.length; i++) {
    const c = line[i]!;
    if (inQuote) {
      if (c === inQuote) inQuote = undefined;
    } else if (c === '"' || c === "'") inQuote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      end = i;
      break;
    }
  }
  while (end > from && /\s/.test(line[end - 1]!)) end--;
  return end;
}

function keyItems(lines: readonly string[], range: Range): CompletionItem[] {
  const present = presentKeys(lines);
  return SPECS.filter((s) => !present.has(s.key)).map((spec, i) => ({
    label: spec.key,
    kind: 'key',
    insertText: `${spec.key}: ${toYaml(spec.default)}`,
    range,
    detail: spec.summary,
    documentation: describeKey(spec),
    // Not-implemented keys sink to the bottom; otherwise schema order.
    sortText: `${spec.implemented === 'no' ? 1 : 0}${String(SECTION_ORDER.indexOf(spec.section)).padStart(2, '0')}${String(i).padStart(3, '0')}`,
  }));
}

function valueItem(
  label: string,
  range: Range,
  order: number,
  detail?: string,
  documentation?: string,
): CompletionItem {
  return {
    label,
    kind: 'value',
    insertText: label,
    range,
    sortText: String(order).padStart(4, '0'),
    ...(detail ? { detail } : {}),
    ...(documentation ? { documentation } : {}),
  };
}

function scalarValueItems(spec: KeySpec, range: Range): CompletionItem[] {
  const items: CompletionItem[] = [];
  if (spec.enum) {
    spec.enum
      .filter((e) => e.implemented !== false && !e.compatNote)
      .forEach((e, i) => items.push(valueItem(e.value, range, i, e.doc)));
  }
  if (spec.type === 'boolean') {
    items.push(valueItem('true', range, 0), valueItem('false', range, 1));
  }
  spec.examples?.forEach((ex, i) => {
    if (spec.type !== 'string[]')
      items.push(
        valueItem(toYaml(ex), range, 100 + i, spec.key === 'model_name' ? 'published DINOv2 checkpoint' : undefined),
      );
  });
  if (spec.type === 'string[]' && spec.examples)
    items.push(valueItem(toYaml(spec.examples.slice(0, 4)), range, 100, 'a list'));
  if (spec.nullable) items.push(valueItem('null', range, 900, 'unset: use the derived default'));
  if (items.length === 0 && spec.default !== null) items.push(valueItem(toYaml(spec.default), range, 0, 'default'));
  return items;
}

/** File and folder completions for a path typed so far (unquoted or inside quotes). */
function pathItems(spec: KeySpec, typed: string, range: Range, env: CompletionEnv): CompletionItem[] {
  if (!env.listDir) return [];
  const slash = typed.lastIndexOf('/');
  const dir = slash >= 0 ? typed.slice(0, slash + 1) : '';
  const partial = typed.slice(slash + 1);
  const entries = env.listDir(dir.replace(/\/$/, '')) ?? [];
  const wantsFolder = spec.key === 'image_root' || spec.key === 'output_dir' || spec.key === 'model_name';
  return entries
    .filter((e) => e.name.startsWith(partial) && !e.name.startsWith('.'))
    .filter((e) => e.isDir || (!wantsFolder && /\.(jsonl|csv|tsv)$/i.test(e.name)))
    .map((e, i) => ({
      label: e.name + (e.isDir ? '/' : ''),
      kind: e.isDir ? ('folder' as const) : ('file' as const),
      insertText: dir + e.name + (e.isDir && !wantsFolder ? '/' : ''),
      range,
      sortText: `${e.isDir ? 1 : 0}${String(i).padStart(4, '0')}`,
    }));
}

export function complete(text: string, pos: Position, env: CompletionEnv = {}): CompletionItem[] {
  const lines = text.split(/\r?\n/);
  const line = lines[pos.line] ?? '';
  const before = line.slice(0, pos.character);
  if (/(^|\s)#/.test(before)) return []; // in a comment

  // A top-level key being typed (or an empty line).
  const keyTyping = /^([A-Za-z_][\w-]*)?$/.exec(before);
  if (keyTyping) {
    let end = pos.character;
    while (end < line.length && /[\w-]/.test(line[end]!)) end++;
    // Keep an existing `: value` on the line; replace only the key word.
    if (/^\s*:/.test(line.slice(end)))
      return keyItems(lines, lineRange(pos.line, 0, end)).map((it) => ({ ...it, insertText: it.label }));
    return keyItems(lines, lineRange(pos.line, 0, Math.max(end, line.length)));
  }

  // A value after `key:` on the same line.
  const valueTyping = /^([A-Za-z_][\w-]*)(\s*:\s*)(.*)$/.exec(before);
  if (valueTyping) {
    const spec = resolveKeyName(valueTyping[1]!)?.spec;
    if (!spec) return [];
    const start = valueTyping[1]!.length + valueTyping[2]!.length;
    const range = lineRange(pos.line, start, Math.max(pos.character, valueEnd(line, start)));
    const typed = valueTyping[3]!.replace(/^["']/, '');
    const items = scalarValueItems(spec, range);
    if (spec.type === 'path' || spec.key === 'model_name') items.push(...pathItems(spec, typed, range, env));
    return items;
  }

  // An indented list item or mapping key under a top-level key.
  const parent = parentKey(lines, pos.line);
  if (!parent) return [];
  const item = /^(\s+-\s*)([\w-]*)$/.exec(before);
  if (item && parent.type === 'string[]') {
    const listed = new Set(lines.map((l) => /^\s+-\s*([\w-]+)/.exec(l)?.[1]).filter(Boolean));
    const range = lineRange(pos.line, item[1]!.length, valueEnd(line, item[1]!.length));
    return (parent.examples ?? []).filter((e) => !listed.has(e)).map((e, i) => valueItem(e, range, i));
  }
  const mapKey = /^(\s+)([\w-]*)$/.exec(before);
  if (mapKey && parent.type === 'string-map') {
    const range = lineRange(pos.line, mapKey[1]!.length, Math.max(pos.character, valueEnd(line, mapKey[1]!.length)));
    return (parent.mapKeys ?? []).map((k, i) => ({
      ...valueItem(k, range, i, 'standard column'),
      kind: 'key' as const,
      insertText: `${k}: `,
    }));
  }
  return [];
}
