// Small SOP-shaped folders for the data tests: super-class folders with tiny
// PNGs, Ebay_train.txt and Ebay_test.txt.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';

export interface ListedImage {
  id: number;
  cls: number;
  sup: number;
  path: string;
}

export const HEADER = 'image_id class_id super_class_id path';

export function listText(images: readonly ListedImage[], eol = '\n'): string {
  return [HEADER, ...images.map((i) => `${i.id} ${i.cls} ${i.sup} ${i.path}`)].join(eol) + eol;
}

/** 8x8 PNG with a colour derived from `n`. */
export async function writeTinyImage(file: string, n: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({
    create: {
      width: 8,
      height: 8,
      channels: 3,
      background: { r: (n * 37) % 256, g: (n * 91) % 256, b: (n * 53) % 256 },
    },
  })
    .png()
    .toFile(file);
}

export const TRAIN: ListedImage[] = [
  { id: 1, cls: 1, sup: 1, path: 'bicycle_final/1_0.png' },
  { id: 2, cls: 1, sup: 1, path: 'bicycle_final/1_1.png' },
  { id: 3, cls: 1, sup: 1, path: 'bicycle_final/1_2.png' },
  { id: 4, cls: 2, sup: 1, path: 'bicycle_final/2_0.png' },
  { id: 5, cls: 3, sup: 2, path: 'chair_final/3_0.png' },
  { id: 6, cls: 3, sup: 2, path: 'chair_final/3_1.png' },
];

export const TEST: ListedImage[] = [
  { id: 7, cls: 4, sup: 1, path: 'bicycle_final/4_0.png' },
  { id: 8, cls: 4, sup: 1, path: 'bicycle_final/4_1.png' },
  { id: 9, cls: 5, sup: 2, path: 'chair_final/5_0.png' },
  { id: 10, cls: 5, sup: 2, path: 'chair_final/5_1.png' },
  { id: 11, cls: 5, sup: 2, path: 'chair_final/5_2.png' },
];

/** A fresh SOP folder in the temp dir; `skip` lists image paths not to create. */
export async function makeSopTree(
  options: { train?: ListedImage[]; test?: ListedImage[]; skip?: string[]; eol?: string } = {},
): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-sop-'));
  const train = options.train ?? TRAIN;
  const test = options.test ?? TEST;
  const skip = new Set(options.skip ?? []);
  for (const img of [...train, ...test])
    if (!skip.has(img.path)) await writeTinyImage(path.join(dir, img.path), img.id);
  fs.writeFileSync(path.join(dir, 'Ebay_train.txt'), listText(train, options.eol));
  fs.writeFileSync(path.join(dir, 'Ebay_test.txt'), listText(test, options.eol));
  return dir;
}
