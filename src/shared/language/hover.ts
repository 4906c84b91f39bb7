/** Hover documentation for the key (or enum value) under the cursor. */
import { allKeyNames, resolveKeyName, seedToolKey } from '../config/schema';
import type { Position, Range } from '../config/validate';
import { suggest } from '../text/suggest';
import { describeKey } from './describe';

export interface HoverInfo {
  /** Markdown. */
  markdown: string;
  range: Range;
}

export function hover(text: string, pos: Position): HoverInfo | undefined {
  const line = text.split(/\r?\n/)[pos.line] ?? '';
  const m = /^([A-Za-z_][\w-]*)(\s*:\s*)("[^"]*"|'[^']*'|[^\s#]*)/.exec(line);
  if (!m) return undefined;
  const name = m[1]!;
  const keyRange: Range = { start: { line: pos.line, character: 0 }, end: { line: pos.line, character: name.length } };
  const valueStart = name.length + m[2]!.length;
  const rawValue = m[3]!;
  const resolved = resolveKeyName(name);

  if (pos.character <= name.length) {
    const foreign = resolved ? undefined : seedToolKey(name);
    if (foreign) {
      return {
        range: keyRange,
        markdown: `**${name}**: a vembed-factory key (${foreign.feature}), not supported in vembed.\n\nIn vembed-factory: ${foreign.meaning}\n\nIn vembed: ${foreign.instead}`,
      };
    }
    if (!resolved) {
      const s = suggest(name, allKeyNames());
      return {
        range: keyRange,
        markdown: `**${name}**: not a vembed config key.${s ? ` Did you mean \`${s}\`?` : ''}`,
      };
    }
    const alias = resolved.isAlias ? `\`${name}\` is an alias of \`${resolved.spec.key}\`.\n\n` : '';
    return { range: keyRange, markdown: alias + describeKey(resolved.spec) };
  }

  if (resolved && pos.character >= valueStart && pos.character <= valueStart + rawValue.length) {
    const value = rawValue.replace(/^["']|["']$/g, '');
    const e = resolved.spec.enum?.find((x) => x.value === value);
    const range: Range = {
      start: { line: pos.line, character: valueStart },
      end: { line: pos.line, character: valueStart + rawValue.length },
    };
    if (e) {
      return {
        range,
        markdown: `\`${resolved.spec.key}: ${e.value}\` — ${e.doc}${e.implemented === false ? '\n\n**Not implemented by vembed.**' : ''}`,
      };
    }
    return { range, markdown: describeKey(resolved.spec) };
  }
  return undefined;
}
