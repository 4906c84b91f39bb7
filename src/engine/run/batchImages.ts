/**
 * Images found bad during training, when they were not all checked before it
 * (validate_data: false): each batch's images are decoded once before its
 * step, and a record whose image fails is named by its file and line. With
 * skip_invalid_records the record is left out of that batch (and of every
 * later one) and counted; otherwise the run stops before the step, naming it.
 */
import * as path from 'node:path';
import { checkImageFiles } from '../data/imageCheck';
import { DataError, formatProblem, type DataProblem } from '../data/problems';
import type { PairRecord } from '../data/pairDataset';

export interface ScreenedBatch {
  records: PairRecord[];
  /** Positions in the training file, one per record. */
  indices: number[];
}

export class BatchImageScreen {
  private readonly good = new Set<string>();
  private readonly bad = new Map<string, string>();
  /** Records left out so far (each counted once), as problems naming file:line. */
  readonly skipped = new Map<string, DataProblem>();

  constructor(
    private readonly skipInvalid: boolean,
    private readonly imageRoot: string,
    private readonly onSkip: (problem: DataProblem) => void,
  ) {}

  /**
   * The batch without records whose images do not decode. Throws a DataError naming the record when skipping is off.
   */
  async screen(batch: ScreenedBatch, signal?: AbortSignal): Promise<ScreenedBatch> {
    const paths = batch.records.flatMap((r) => [r.query, r.positive]);
    const unknown = paths.filter((p) => !this.good.has(p) && !this.bad.has(p));
    if (unknown.length > 0) {
      const failures = await checkImageFiles(unknown, signal ? { signal } : {});
      for (const p of unknown) {
        const reason = failures.get(p);
        if (reason === undefined) this.good.add(p);
        else this.bad.set(p, reason);
      }
    }
    const out: ScreenedBatch = { records: [], indices: [] };
    const problems: DataProblem[] = [];
    batch.records.forEach((r, i) => {
      const badPath = [r.query, r.positive].find((p) => this.bad.has(p));
      if (!badPath) {
        out.records.push(r);
        out.indices.push(batch.indices[i]!);
        return;
      }
      problems.push({
        kind: this.bad.get(badPath) === 'file not found' ? 'missing-image' : 'unreadable-image',
        file: r.file,
        line: r.line,
        message: `${path.relative(this.imageRoot, badPath) || badPath}: ${this.bad.get(badPath)}`,
      });
    });
    if (problems.length === 0) return batch;
    if (!this.skipInvalid) {
      throw new DataError(
        `${formatProblem(problems[0]!)} (found during training${problems.length > 1 ? `; ${problems.length - 1} more in this batch` : ''}).`,
        problems,
        'Fix or remove the record, or set skip_invalid_records: true to leave such records out (they are counted); validate_data: true finds every one before training.',
      );
    }
    for (const p of problems) {
      const key = `${p.file}:${p.line}`;
      if (this.skipped.has(key)) continue;
      this.skipped.set(key, p);
      this.onSkip(p);
    }
    return out;
  }
}
