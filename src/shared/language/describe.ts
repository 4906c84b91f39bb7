/** How keys and values are shown to a user: Markdown for hovers and completion docs, YAML for inserts. */
import type { KeySpec } from '../config/schema';

/** A value written as YAML, quoted only where YAML would otherwise read it as something else. */
export function toYaml(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(toYaml).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}: ${toYaml(v)}`);
    return `{${entries.join(', ')}}`;
  }
  const s = String(value);
  const plainSafe = /^[A-Za-z_./][\w./-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~)$/i.test(s);
  return plainSafe ? s : JSON.stringify(s);
}

export function typeLabel(spec: KeySpec): string {
  return `${spec.type}${spec.nullable ? ' | null' : ''}`;
}

/** The allowed values or range of a key, in words; empty when anything of its type goes. */
export function allowedText(spec: KeySpec): string {
  if (spec.enum) {
    const ok = spec.enum.filter((e) => e.implemented !== false).map((e) => `\`${e.value}\``);
    const not = spec.enum.filter((e) => e.implemented === false).map((e) => `\`${e.value}\``);
    return `${ok.join(', ')}${not.length ? ` (recognised but not implemented: ${not.join(', ')})` : ''}`;
  }
  const parts: string[] = [];
  if (spec.exclusiveMin !== undefined) parts.push(`> ${spec.exclusiveMin}`);
  if (spec.min !== undefined) parts.push(`>= ${spec.min}`);
  if (spec.max !== undefined) parts.push(`<= ${spec.max}`);
  if (spec.multipleOf !== undefined) parts.push(`a multiple of ${spec.multipleOf}`);
  if (spec.mapKeys) parts.push(`keys ${spec.mapKeys.map((k) => `\`${k}\``).join(', ')}`);
  return parts.join(', ');
}

function implementedText(spec: KeySpec): string {
  switch (spec.implemented) {
    case 'yes':
      return 'Implemented by vembed.';
    case 'no':
      return `**Not implemented by vembed**: accepted for compatibility and ignored (with a warning).${spec.note ? ` ${spec.note}` : ''}`;
    case 'values':
      return 'Implemented by vembed for the values listed first; the others are rejected with a message.';
  }
}

/** Markdown documentation of a key: what hover and completion show. */
export function describeKey(spec: KeySpec): string {
  const lines = [
    `**${spec.key}** \`${typeLabel(spec)}\` — default \`${toYaml(spec.default)}\``,
    '',
    spec.summary,
    '',
    spec.doc,
  ];
  const allowed = allowedText(spec);
  if (allowed) lines.push('', `Allowed: ${allowed}`);
  if (spec.aliases?.length)
    lines.push(
      '',
      `Also written as ${spec.aliases.map((a) => `\`${a}\``).join(', ')} (the canonical name wins; both set differently is an error).`,
    );
  lines.push('', implementedText(spec));
  return lines.join('\n');
}
