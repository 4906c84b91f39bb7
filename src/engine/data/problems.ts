/**
 * Problems found in data files (a malformed line, a missing image) and the
 * error that carries them. Every problem names its file and, where it has
 * one, its line; a report lists how many there are of each kind and a few
 * examples, never thousands of lines.
 */
import { UserError } from '../../shared/userError';

export type ProblemKind =
  | 'missing-file'
  | 'malformed'
  | 'missing-column'
  | 'path-escapes'
  | 'missing-image'
  | 'unreadable-image'
  | 'inconsistent'
  | 'duplicate-image'
  | 'single-image-product'
  | 'layout';

export interface DataProblem {
  kind: ProblemKind;
  file: string;
  /** 1-based; absent for problems of a whole file. */
  line?: number;
  message: string;
}

const KIND_TITLES: Readonly<Record<ProblemKind, string>> = {
  'missing-file': 'file not found',
  malformed: 'malformed line',
  'missing-column': 'missing column',
  'path-escapes': 'path outside the image root',
  'missing-image': 'image not found',
  'unreadable-image': 'image not readable',
  inconsistent: 'inconsistent record',
  'duplicate-image': 'image listed twice',
  'single-image-product': 'product with a single image',
  layout: 'unexpected folder layout',
};

export function formatProblem(p: DataProblem): string {
  return `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.message}`;
}

/** Counts by kind, e.g. "3 malformed lines, 1 image not found". */
export function countByKind(problems: readonly DataProblem[]): string {
  const counts = new Map<ProblemKind, number>();
  for (const p of problems) counts.set(p.kind, (counts.get(p.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} × ${KIND_TITLES[k]}`).join(', ');
}

/**
 * A short multi-line report: the total, the counts by kind, then the first
 * `examples` problems (at most `perKind` of each kind, so one kind cannot hide
 * the others).
 */
export function summariseProblems(problems: readonly DataProblem[], examples = 10, perKind = 5): string {
  if (problems.length === 0) return 'no problems';
  const shown: DataProblem[] = [];
  const perKindShown = new Map<ProblemKind, number>();
  for (const p of problems) {
    if (shown.length >= examples) break;
    const n = perKindShown.get(p.kind) ?? 0;
    if (n >= perKind) continue;
    perKindShown.set(p.kind, n + 1);
    shown.push(p);
  }
  const lines = [
    `${problems.length} problem(s): ${countByKind(problems)}`,
    ...shown.map((p) => `  ${formatProblem(p)}`),
  ];
  if (problems.length > shown.length) lines.push(`  ... and ${problems.length - shown.length} more`);
  return lines.join('\n');
}

/** Bad data a user has to fix; `problems` holds every one of them, not just the examples in the message. */
export class DataError extends UserError {
  constructor(
    message: string,
    readonly problems: readonly DataProblem[],
    hint?: string,
  ) {
    // The event's file/line point at the problem when there is one place to point at.
    const first = problems[0];
    const oneFile = first && problems.every((p) => p.file === first.file) ? first.file : undefined;
    super(message, hint, 'bad-data', oneFile, problems.length === 1 ? first?.line : undefined);
  }
}
