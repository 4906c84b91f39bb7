/**
 * Command-line parsing for `vembed`: declared options, typed values, and
 * errors that name the bad flag (with a did-you-mean) instead of ignoring it.
 */
import { suggest } from '../../shared/text/suggest';
import { boundsProblem, type NumberBounds } from '../../shared/config/validate';
import { specOf } from '../../shared/config/schema';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean' | 'string[]';

export interface OptionSpec {
  /** Canonical spelling with underscores; `--sop-root` is accepted for `--sop_root`. */
  name: string;
  type: OptionType;
  description: string;
  /** Placeholder shown in help, e.g. DIR. */
  metavar?: string;
  required?: boolean;
  default?: string | number | boolean;
  /** One-letter short form, e.g. `k` for `-k`. */
  short?: string;
  /** Limits of a number or integer option, checked as config values are (see `boundsOf`). */
  bounds?: NumberBounds;
}

/** The limits of a config key, for a flag that takes the same values (one rule for both). */
export function boundsOf(configKey: string): NumberBounds {
  const spec = specOf(configKey);
  if (!spec) throw new Error(`no config key ${configKey}`);
  return { min: spec.min, max: spec.max, exclusiveMin: spec.exclusiveMin, multipleOf: spec.multipleOf };
}

export interface ParsedArgs {
  options: Record<string, string | number | boolean | string[] | undefined>;
  positionals: string[];
}

export class UsageError extends Error {}

function normalize(flag: string): string {
  return flag.replace(/-/g, '_');
}

/** Options every command accepts. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: 'json', type: 'boolean', description: 'Write JSON-lines events to stdout instead of human-readable text.' },
  { name: 'help', type: 'boolean', short: 'h', description: 'Show help for this command.' },
];

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const all = [...specs, ...COMMON_OPTIONS];
  const byName = new Map(all.map((s) => [s.name, s]));
  const byShort = new Map(all.filter((s) => s.short).map((s) => [s.short!, s]));
  const options: ParsedArgs['options'] = {};
  const positionals: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = normalize(eq > 0 ? arg.slice(2, eq) : arg.slice(2));
      inline = eq > 0 ? arg.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec && name.startsWith('no_') && byName.get(name.slice(3))?.type === 'boolean') {
        options[name.slice(3)] = false;
        continue;
      }
      if (!spec) {
        const s = suggest(name, byName.keys());
        throw new UsageError(`unknown option --${name.replace(/_/g, '-')}.${s ? ` Did you mean --${s}?` : ''}`);
      }
    } else if (/^-[A-Za-z]$/.test(arg)) {
      spec = byShort.get(arg.slice(1));
      if (!spec) throw new UsageError(`unknown option ${arg}.`);
    } else {
      positionals.push(arg);
      continue;
    }

    if (spec.type === 'boolean') {
      if (inline === undefined) options[spec.name] = true;
      else if (/^(true|1|yes)$/i.test(inline)) options[spec.name] = true;
      else if (/^(false|0|no)$/i.test(inline)) options[spec.name] = false;
      else throw new UsageError(`--${spec.name} takes true or false, got "${inline}".`);
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined)
      throw new UsageError(`--${spec.name} needs a value${spec.metavar ? ` (${spec.metavar})` : ''}.`);
    if (spec.type === 'string[]') {
      const prev = (options[spec.name] as string[] | undefined) ?? [];
      options[spec.name] = [...prev, raw];
    } else if (spec.type === 'number' || spec.type === 'integer') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n))) {
        throw new UsageError(
          `--${spec.name} takes ${spec.type === 'integer' ? 'an integer' : 'a number'}, got "${raw}".`,
        );
      }
      const outside = spec.bounds ? boundsProblem(spec.bounds, n) : undefined;
      if (outside) throw new UsageError(`--${spec.name} ${outside}, got ${raw}.`);
      options[spec.name] = n;
    } else {
      options[spec.name] = raw;
    }
  }

  for (const spec of specs) {
    if (options[spec.name] === undefined && spec.default !== undefined) options[spec.name] = spec.default;
    if (spec.required && options[spec.name] === undefined && !options.help) {
      throw new UsageError(`--${spec.name} is required${spec.metavar ? ` (${spec.metavar})` : ''}.`);
    }
  }
  return { options, positionals };
}

export function formatOptions(specs: readonly OptionSpec[]): string {
  const rows = [...specs, ...COMMON_OPTIONS].map((s) => {
    const flag = `${s.short ? `-${s.short}, ` : ''}--${s.name}${s.type === 'boolean' ? '' : ` ${s.metavar ?? s.type.toUpperCase()}`}`;
    const extra = s.required ? ' (required)' : s.default !== undefined ? ` (default: ${String(s.default)})` : '';
    return [flag, s.description + extra] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`).join('\n');
}
