/**
 * Stanford Online Products image lists (`Ebay_train.txt`, `Ebay_test.txt`):
 * a header `image_id class_id super_class_id path`, then one image a line,
 * space separated, paths relative to the folder holding the list.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDataText, splitNumberedLines } from './lines';
import { DataError, summariseProblems, type DataProblem } from './problems';

export const SOP_HEADER = ['image_id', 'class_id', 'super_class_id', 'path'] as const;

export interface SopImage {
  imageId: number;
  /** The product. */
  classId: number;
  /** The category (bicycle, chair, ...). */
  superClassId: number;
  /** As written in the list: relative to the list's folder, forward slashes. */
  path: string;
  /** Line in the list file (1-based). */
  line: number;
}

const NON_NEGATIVE_INT = /^[1-9]\d*$|^0$/;

/**
 * Parse a list's text. Every malformed line is collected; if there is any,
 * a DataError lists them all (counted, with the first few quoted).
 */
export function parseSopList(text: string, file: string): SopImage[] {
  const lines = splitNumberedLines(text);
  const problems: DataProblem[] = [];
  if (lines.length === 0)
    throw new DataError(`${file} is empty; expected the header \`${SOP_HEADER.join(' ')}\` and one image a line.`, [
      { kind: 'malformed', file, message: 'empty file' },
    ]);

  const header = lines[0]!;
  const headerFields = header.text.trim().split(/\s+/);
  if (headerFields.join(' ').toLowerCase() !== SOP_HEADER.join(' ')) {
    problems.push({
      kind: 'malformed',
      file,
      line: header.line,
      message: `expected the header \`${SOP_HEADER.join(' ')}\`, found \`${header.text.trim()}\``,
    });
  }

  const images: SopImage[] = [];
  const seenIds = new Map<number, number>();
  const superOfClass = new Map<number, { superClassId: number; line: number }>();
  for (const { line, text: t } of lines.slice(1)) {
    const fields = t.trim().split(/\s+/);
    if (fields.length !== 4) {
      problems.push({
        kind: 'malformed',
        file,
        line,
        message: `expected 4 space-separated fields (${SOP_HEADER.join(' ')}), found ${fields.length}: \`${t.trim()}\``,
      });
      continue;
    }
    const [id, cls, sup, rel] = fields as [string, string, string, string];
    const bad = [
      ['image_id', id],
      ['class_id', cls],
      ['super_class_id', sup],
    ].filter(([, v]) => !NON_NEGATIVE_INT.test(v!));
    if (bad.length > 0) {
      problems.push({
        kind: 'malformed',
        file,
        line,
        message: bad.map(([k, v]) => `${k} must be a non-negative integer, found \`${v}\``).join('; '),
      });
      continue;
    }
    const image: SopImage = {
      imageId: Number(id),
      classId: Number(cls),
      superClassId: Number(sup),
      path: rel.replace(/\\/g, '/'),
      line,
    };
    const dup = seenIds.get(image.imageId);
    if (dup !== undefined) {
      problems.push({
        kind: 'inconsistent',
        file,
        line,
        message: `image_id ${image.imageId} already used on line ${dup}`,
      });
      continue;
    }
    seenIds.set(image.imageId, line);
    const known = superOfClass.get(image.classId);
    if (known && known.superClassId !== image.superClassId) {
      problems.push({
        kind: 'inconsistent',
        file,
        line,
        message: `class_id ${image.classId} has super_class_id ${image.superClassId} here but ${known.superClassId} on line ${known.line}`,
      });
      continue;
    }
    if (!known) superOfClass.set(image.classId, { superClassId: image.superClassId, line });
    images.push(image);
  }
  if (problems.length > 0) {
    throw new DataError(
      `${file} has malformed lines.\n${summariseProblems(problems)}`,
      problems,
      'Each line after the header must be `image_id class_id super_class_id path`, separated by spaces.',
    );
  }
  if (images.length === 0)
    throw new DataError(`${file} lists no images.`, [{ kind: 'malformed', file, message: 'no images' }]);
  return images;
}

export function readSopList(file: string): SopImage[] {
  return parseSopList(readDataText(file, 'SOP image list'), file);
}

/** An SOP list ready for the benchmark: images in file order with absolute paths. */
export interface SopImageList {
  file: string;
  /** The folder the list's paths are relative to. */
  root: string;
  images: Array<SopImage & { absPath: string }>;
  numProducts: number;
  numSuperClasses: number;
}

/**
 * Load a list (e.g. `Ebay_test.txt`) for evaluation. Paths that leave `root`
 * are refused: the list is data, and must not make the engine read arbitrary files.
 */
export function loadSopImageList(file: string, root: string = path.dirname(path.resolve(file))): SopImageList {
  const images = readSopList(file);
  const absRoot = path.resolve(root);
  const problems: DataProblem[] = [];
  const out: SopImageList['images'] = [];
  for (const img of images) {
    const abs = path.resolve(absRoot, img.path);
    const rel = path.relative(absRoot, abs);
    if (path.isAbsolute(img.path) || rel.startsWith('..') || path.isAbsolute(rel)) {
      problems.push({
        kind: 'path-escapes',
        file,
        line: img.line,
        message: `path \`${img.path}\` leaves the SOP root ${absRoot}`,
      });
      continue;
    }
    out.push({ ...img, absPath: abs });
  }
  if (problems.length > 0)
    throw new DataError(`${file}: image paths must stay inside ${absRoot}.\n${summariseProblems(problems)}`, problems);
  return {
    file,
    root: absRoot,
    images: out,
    numProducts: new Set(out.map((i) => i.classId)).size,
    numSuperClasses: new Set(out.map((i) => i.superClassId)).size,
  };
}

/** Listed images that are not files on disk, in list order. */
export function findMissingImages<T extends { path: string }>(root: string, images: readonly T[]): T[] {
  return images.filter((img) => {
    try {
      return !fs.statSync(path.resolve(root, img.path)).isFile();
    } catch {
      return true;
    }
  });
}
