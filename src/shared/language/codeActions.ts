/**
 * Quick fixes: turn a diagnostic's `fix` into text edits. Pure: text in,
 * edits out; the extension wraps them in WorkspaceEdits.
 */
import { parseConfigText, type Diagnostic, type Range } from '../config/validate';
import { toYaml } from './describe';

export interface TextEdit {
  range: Range;
  newText: string;
}

export interface CodeAction {
  title: string;
  diagnostic: Diagnostic;
  edits: TextEdit[];
  /** The fix an editor may apply on "auto fix". */
  isPreferred: boolean;
}

/** The whole lines of the entry whose key starts at `keyRange`, trailing newline included. */
function entryLines(text: string, keyRange: Range): Range {
  const lines = text.split(/\r?\n/);
  const entry = parseConfigText(text).entries.find(
    (e) => e.keyRange.start.line === keyRange.start.line && e.keyRange.start.character === keyRange.start.character,
  );
  const last = entry ? entry.entryRange.end.line : keyRange.start.line;
  return last + 1 < lines.length
    ? { start: { line: keyRange.start.line, character: 0 }, end: { line: last + 1, character: 0 } }
    : { start: { line: keyRange.start.line, character: 0 }, end: { line: last, character: lines[last]!.length } };
}

/** A value as YAML text: fix values are plain strings, so numbers and booleans must stay unquoted. */
function valueText(v: string): string {
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(v) || /^(true|false|null)$/.test(v)) return v;
  return toYaml(v);
}

export function codeActionsFor(text: string, diagnostics: readonly Diagnostic[]): CodeAction[] {
  const out: CodeAction[] = [];
  for (const d of diagnostics) {
    if (!d.fix || !d.range) continue;
    switch (d.fix.kind) {
      case 'rename-key':
        out.push({
          title: `Rename to '${d.fix.to}'`,
          diagnostic: d,
          edits: [{ range: d.range, newText: d.fix.to }],
          isPreferred: true,
        });
        break;
      case 'remove-entry': {
        const name =
          text.split(/\r?\n/)[d.range.start.line]?.slice(d.range.start.character, d.range.end.character) ?? '';
        out.push({
          title: `Remove '${name}'`,
          diagnostic: d,
          edits: [{ range: entryLines(text, d.range), newText: '' }],
          isPreferred: d.code !== 'unknown-key',
        });
        break;
      }
      case 'set-value':
        out.push({
          title: `Change to '${d.fix.value}'`,
          diagnostic: d,
          edits: [{ range: d.range, newText: valueText(d.fix.value) }],
          isPreferred: true,
        });
        break;
    }
  }
  return out;
}

/** Apply edits to a text (edits must not overlap); used by tests and the CLI. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const offset = (p: { line: number; character: number }) => (lineStarts[p.line] ?? text.length) + p.character;
  const sorted = [...edits].sort((a, b) => offset(b.range.start) - offset(a.range.start));
  let out = text;
  for (const e of sorted) out = out.slice(0, offset(e.range.start)) + e.newText + out.slice(offset(e.range.end));
  return out;
}
