/**
 * `metadata.jsonl`: one JSON object a line, line i describing row i of the
 * `embeddings.npy` next to it: at least `path` (relative to the image root
 * the manifest names, or absolute), usually `label`, plus whatever the
 * caller adds. The format vector databases import alongside the vectors.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../fs/atomic';

export const METADATA_FILE = 'metadata.jsonl';

export interface ImageRecord {
  path: string;
  label?: number | string;
  [key: string]: unknown;
}

export function formatMetadata(records: readonly ImageRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : '');
}

export function writeMetadata(file: string, records: readonly ImageRecord[]): void {
  records.forEach((r, i) => {
    if (typeof r?.path !== 'string' || r.path === '') throw new Error(`image record ${i} has no path`);
  });
  writeFileAtomic(file, formatMetadata(records));
}

export function readMetadata(file: string): ImageRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${file}: not found` : `${file}: cannot read (${(e as Error).message})`, {
      cause: e,
    });
  }
  const records: ImageRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`, { cause: e });
    }
    if (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      typeof (value as ImageRecord).path !== 'string'
    ) {
      throw new Error(`${file}:${i + 1}: expected an object with a "path" string, found ${line.slice(0, 80)}`);
    }
    records.push(value as ImageRecord);
  }
  return records;
}
