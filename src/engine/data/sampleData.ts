/**
 * The built-in sample data set (data/sample-sop in the repository: SOP
 * layout, made by scripts/sample-data/make-sample-sop.ts from public-domain
 * Openclipart drawings) and its installation where the demo config expects it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDirAtomic } from '../../shared/fs/atomic';
import { prepareSop, type PrepareSopResult } from './prepareSop';
import { DataError } from './problems';

export const SAMPLE_DIR_NAME = path.join('data', 'sample-sop');

/**
 * The shipped sample: found by walking up from this module, since it sits at
 * the repository root both for the bundle (dist/engine/) and for the sources
 * (src/engine/data/).
 */
export function findBundledSample(from: string = __dirname): string | undefined {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, SAMPLE_DIR_NAME);
    if (fs.existsSync(path.join(candidate, 'Ebay_train.txt'))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** Relative path -> size of every file under `dir` except the prepared JSONL. */
function manifest(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !e.name.endsWith('.jsonl') && !e.name.startsWith('.'))
        out.set(path.relative(dir, p), fs.statSync(p).size);
    }
  };
  walk(dir);
  return out;
}

function sameFiles(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

export type InstallStatus = 'in-place' | 'already-installed' | 'installed' | 'replaced';

export interface InstallResult {
  status: InstallStatus;
  source: string;
  dir: string;
  /** Set when train.jsonl / val.jsonl were (re)written. */
  prepared?: PrepareSopResult;
  images: number;
}

/**
 * Put the sample into `out` (default: data/sample-sop under `cwd`) with its
 * train.jsonl and val.jsonl. An existing copy is left alone; a folder holding
 * something else is only replaced with `force`.
 */
export function installSampleData(options: {
  out?: string;
  force?: boolean;
  cwd?: string;
  source?: string;
}): InstallResult {
  const source = options.source ?? findBundledSample();
  if (!source) {
    throw new DataError(
      'The built-in sample data set was not found next to the engine.',
      [],
      'It lives in data/sample-sop of the vembed repository; run `npx tsx scripts/sample-data/make-sample-sop.ts` there to rebuild it.',
    );
  }
  const dir = path.resolve(options.cwd ?? process.cwd(), options.out ?? SAMPLE_DIR_NAME);
  const srcFiles = manifest(source);
  const hasPairs = (d: string) =>
    fs.existsSync(path.join(d, 'train.jsonl')) && fs.existsSync(path.join(d, 'val.jsonl'));
  const ensurePairs = (status: InstallStatus): InstallResult => {
    const prepared = hasPairs(dir) ? undefined : prepareSop({ sopRoot: dir });
    return {
      status,
      source,
      dir,
      images: [...srcFiles.keys()].filter((f) => /\.(jpe?g|png)$/i.test(f)).length,
      ...(prepared ? { prepared } : {}),
    };
  };

  if (fs.existsSync(dir) && fs.realpathSync(dir) === fs.realpathSync(source)) return ensurePairs('in-place');
  let status: InstallStatus = 'installed';
  if (fs.existsSync(dir)) {
    if (!fs.statSync(dir).isDirectory())
      throw new DataError(`${dir} exists and is not a folder.`, [], 'Choose another --out.');
    if (sameFiles(manifest(dir), srcFiles)) return ensurePairs('already-installed');
    if (fs.readdirSync(dir).length > 0) {
      if (!options.force)
        throw new DataError(
          `${dir} already exists and holds other files.`,
          [],
          'Choose another --out, or pass --force to replace that folder with the sample.',
        );
      status = 'replaced';
    }
  }
  writeDirAtomic(dir, (tmp) =>
    fs.cpSync(source, tmp, { recursive: true, filter: (p) => !path.basename(p).startsWith('.') }),
  );
  const prepared = prepareSop({ sopRoot: dir });
  return {
    status,
    source,
    dir,
    prepared,
    images: [...srcFiles.keys()].filter((f) => /\.(jpe?g|png)$/i.test(f)).length,
  };
}
