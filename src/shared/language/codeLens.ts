/** The actions offered at the top of a config that has no errors. */
import type { Diagnostic, Range } from '../config/validate';

export type LensAction = 'train' | 'validate' | 'benchmark';

export interface Lens {
  range: Range;
  title: string;
  action: LensAction;
}

export function codeLenses(text: string, diagnostics: readonly Diagnostic[]): Lens[] {
  const lines = text.split(/\r?\n/);
  // On the first line that holds a key, so the lens sits next to the config, not a comment header.
  const first = Math.max(
    0,
    lines.findIndex((l) => /^[A-Za-z_]/.test(l)),
  );
  const range: Range = { start: { line: first, character: 0 }, end: { line: first, character: 0 } };
  const validate: Lens = { range, title: 'Validate', action: 'validate' };
  if (diagnostics.some((d) => d.severity === 'error')) return [validate];
  return [
    { range, title: '$(play) Train', action: 'train' },
    validate,
    { range, title: 'Benchmark', action: 'benchmark' },
  ];
}
