/** Command-line flags of the benchmark scripts: `--name value` and bare `--switch`. */

export function flagString(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

export function flagNumber(name: string, fallback: number): number {
  const text = flagString(name, String(fallback));
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} takes a number, got "${text}"`);
  return value;
}

export function flagSet(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
