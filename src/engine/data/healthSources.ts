/**
 * The images the data-health check looks at, from the two ways data comes:
 * SOP lists (`Ebay_train.txt`, `Ebay_test.txt`) and pair files
 * (`data_path`, `val_data_path`). val_data_path plays the test split, as it
 * does in training (for SOP it is the test split).
 */
import * as path from 'node:path';
import type { PairRecord } from './pairDataset';
import type { HealthImage, Split } from './dataHealth';
import { readSopList } from './sopList';

export function healthImagesFromSop(sopRoot: string): HealthImage[] {
  const root = path.resolve(sopRoot);
  return (
    [
      ['Ebay_train.txt', 'train'],
      ['Ebay_test.txt', 'test'],
    ] as const
  ).flatMap(([list, split]) =>
    readSopList(path.join(root, list)).map((img) => ({
      path: path.resolve(root, img.path),
      shown: img.path,
      product: String(img.classId),
      split,
    })),
  );
}

/** A record without a label is a product of its own (named by its line), as in training. */
export function healthImagesFromPairs(
  sets: ReadonlyArray<{ split: Split; imageRoot: string; records: readonly PairRecord[] }>,
): HealthImage[] {
  return sets.flatMap(({ split, imageRoot, records }) =>
    records.flatMap((r) => {
      const product = r.label === null ? `(no label: ${path.basename(r.file)}:${r.line})` : String(r.label);
      return [r.query, r.positive].map((p) => {
        const rel = path.relative(imageRoot, p);
        return { path: p, shown: rel.startsWith('..') || path.isAbsolute(rel) ? p : rel, product, split };
      });
    }),
  );
}
