/**
 * Picking and rasterising Openclipart drawings for the sample data set.
 *
 * Every choice is deterministic: candidates are listed in sorted order,
 * shuffled with a seeded RNG, and accepted or rejected by properties of the
 * file and of its rendering (never by timing), so the same package gives the
 * same sample.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

/** A drawing rendered, trimmed to its visible pixels and scaled to fit MASTER_SIZE. */
export interface Drawing {
  /** Relative to the Openclipart root, e.g. `food/fruit/apple.svg`. */
  source: string;
  /** RGBA PNG. */
  png: Buffer;
  width: number;
  height: number;
}

export const MASTER_SIZE = 192;
const RENDER_SIZE = 384;
const MIN_BYTES = 1024;
const MAX_BYTES = 150 * 1024;
// Renders beyond this are broken viewBoxes or huge canvases: skip, don't wait.
const MAX_RENDER_PIXELS = 4096 * 4096;
// Names of sheets of several objects, borders and backgrounds, which are not one "product".
const NOT_A_PRODUCT = /collection|set_|_set|sheet|border|pattern|frame|background|banner|icons?_(?:set|pack)|template/i;

export type Rejection =
  | 'size'
  | 'name'
  | 'embedded-raster'
  | 'render-failed'
  | 'too-large'
  | 'empty'
  | 'too-small'
  | 'too-sparse'
  | 'duplicate';

/** SVG files under `dir`, relative to `root`, sorted. */
export function listSvgs(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs
      .readdirSync(d, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.toLowerCase().endsWith('.svg')) out.push(path.relative(root, p));
    }
  };
  walk(path.join(root, dir));
  return out;
}

/** Cheap checks on the file itself, before rendering. */
export function precheck(root: string, rel: string): Rejection | undefined {
  const size = fs.statSync(path.join(root, rel)).size;
  if (size < MIN_BYTES || size > MAX_BYTES) return 'size';
  if (NOT_A_PRODUCT.test(path.basename(rel))) return 'name';
  const text = fs.readFileSync(path.join(root, rel), 'utf8');
  if (/<image\b/i.test(text)) return 'embedded-raster';
  return undefined;
}

/** Visible (alpha > 16) bounding box of RGBA pixels, and how many are visible. */
function visibleBox(data: Buffer, width: number, height: number) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4 + 3]! > 16) {
        count++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return count === 0 ? undefined : { x0, y0, width: x1 - x0 + 1, height: y1 - y0 + 1, count };
}

/** Render, trim and scale one drawing; a Rejection says why it is unusable. */
export async function renderDrawing(root: string, rel: string): Promise<Drawing | Rejection> {
  const file = path.join(root, rel);
  let rgba: { data: Buffer; info: sharp.OutputInfo };
  try {
    const meta = await sharp(file).metadata();
    const longest = Math.max(meta.width ?? 0, meta.height ?? 0);
    if (!longest) return 'render-failed';
    const density = Math.min(2400, Math.max(1, (72 * RENDER_SIZE) / longest));
    rgba = await sharp(file, { density, limitInputPixels: MAX_RENDER_PIXELS })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    return /pixel limit/i.test((e as Error).message) ? 'too-large' : 'render-failed';
  }
  const { data, info } = rgba;
  const box = visibleBox(data, info.width, info.height);
  if (!box) return 'empty';
  if (Math.max(box.width, box.height) < 48) return 'too-small';
  // Hairline drawings vanish at thumbnail size.
  if (box.count / (box.width * box.height) < 0.08) return 'too-sparse';
  const png = await sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } })
    .extract({ left: box.x0, top: box.y0, width: box.width, height: box.height })
    .resize(MASTER_SIZE, MASTER_SIZE, { fit: 'inside', kernel: 'lanczos3' })
    .png()
    .toBuffer({ resolveWithObject: true });
  return { source: rel, png: png.data, width: png.info.width, height: png.info.height };
}

/** A 16x16 greyscale thumbnail on white, to spot the same drawing filed twice. */
export async function thumbnail(d: Drawing): Promise<Uint8Array> {
  const buf = await sharp(d.png)
    .flatten({ background: '#ffffff' })
    .resize(16, 16, { fit: 'fill' })
    .greyscale()
    .raw()
    .toBuffer();
  return new Uint8Array(buf);
}

export function thumbnailDistance(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

export function sha1(file: string): string {
  return crypto.createHash('sha1').update(fs.readFileSync(file)).digest('hex');
}
