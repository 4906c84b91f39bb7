/**
 * What the importers of a user's data (folders, CSV) hand to `prepare-data`:
 * images with their product, where each was listed (for messages that point
 * at a line or a folder), and the problems found, split into errors (the data
 * cannot be prepared as it is) and warnings (prepared, but worth knowing).
 */
import * as path from 'node:path';
import type { DataProblem } from './problems';
import type { ProductImage } from './productPairs';

export interface ListedImage extends ProductImage {
  /** Absolute path of the image file. */
  abs: string;
  /** Where it was listed: the CSV file, or the product folder. */
  file: string;
  /** The CSV line (1-based); absent for folders. */
  line?: number;
}

export interface LayoutRead {
  /** What was read (the CSV or the root folder), for the summary. */
  source: string;
  /** The folder the images' relative paths start from. */
  imageRoot: string;
  images: ListedImage[];
  errors: DataProblem[];
  warnings: DataProblem[];
  /** Listed images (of `images`) missing on disk: errors unless prepare-data leaves them out. */
  missing: ListedImage[];
}

/** Relative path with forward slashes, as the JSONL files hold them on every OS. */
export function portableRelative(root: string, abs: string): string {
  return path.relative(root, abs).split(path.sep).join('/');
}
