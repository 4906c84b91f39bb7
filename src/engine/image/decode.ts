/**
 * Decoding image files to 8-bit RGB with sharp (libvips).
 *
 * - EXIF orientation is applied, so a phone photo stored sideways comes out
 *   upright (Hugging Face's processor does not do this; PIL ignores EXIF).
 * - Greyscale, CMYK (through its ICC profile), 16-bit and palette images
 *   become 8-bit sRGB.
 * - Transparency is flattened on white (ALPHA_BACKGROUND): product photos and
 *   cut-outs are shown on white. (PIL's `convert("RGB")`, which Hugging Face
 *   uses, drops alpha instead, exposing whatever colour transparent pixels hold.)
 */
import * as fs from 'node:fs';
import sharp from 'sharp';

/** 8-bit RGB, 3 bytes a pixel, row-major, no padding. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 } as const;

/** An image that could not be read, named by its path. */
export class ImageReadError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot read image ${path}: ${reason}`);
    this.name = 'ImageReadError';
  }
}

/** libvips messages repeat lines and end in newlines; keep the distinct ones. */
function cleanReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'file not found';
  const text = String(err.message ?? e);
  if (/Input file is missing/.test(text)) return 'file not found';
  if (/exceeds pixel limit/.test(text))
    return `larger than the ${MAX_INPUT_PIXELS / 1e6} megapixel limit (${PIXEL_LIMIT})`;
  const lines = [
    ...new Set(
      text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    ),
  ];
  return lines.join('; ');
}

// Decoding is capped at 100 megapixels: larger files are nearly always
// mistakes (or decompression bombs) and would take seconds each.
const MAX_INPUT_PIXELS = 100_000_000;
const PIXEL_LIMIT = `width x height at most ${MAX_INPUT_PIXELS.toLocaleString('en-US')} pixels`;

/** Why `file` failed to decode: a folder or a special file is said as such, not as libvips' "unsupported format". */
async function failureReason(file: string, e: unknown): Promise<string> {
  try {
    const st = await fs.promises.stat(file);
    if (st.isDirectory()) return 'it is a folder, not an image file';
    if (!st.isFile()) return 'not a regular file';
  } catch {
    // the decoder's own reason (e.g. file not found) follows
  }
  return cleanReason(e);
}

function pipeline(input: string | Uint8Array): sharp.Sharp {
  return sharp(input, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS })
    .rotate()
    .flatten({ background: ALPHA_BACKGROUND })
    .toColourspace('srgb');
}

/** Decode a file (or its bytes; `label` names it in errors) to RGB. */
export async function decodeImage(file: string, bytes?: Uint8Array): Promise<RgbImage> {
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await pipeline(bytes ?? file)
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageReadError(file, bytes ? cleanReason(e) : await failureReason(file, e));
  }
  const { data, info } = out;
  if (info.channels === 3)
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  // Defensive: a single band (should toColourspace ever keep one) is spread to RGB.
  if (info.channels === 1) {
    const rgb = new Uint8Array(info.width * info.height * 3);
    for (let i = 0; i < info.width * info.height; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i]!;
    return { data: rgb, width: info.width, height: info.height };
  }
  throw new ImageReadError(file, `decoded to ${info.channels} channels, expected 3`);
}

export interface ImageHeader {
  format: string;
  width: number;
  height: number;
}

/**
 * Read only the header (format and size) to check that a file is an image
 * sharp can decode, without decoding its pixels.
 */
export async function probeImage(file: string): Promise<ImageHeader> {
  // Ask the file system first: libvips' answer for a missing file depends on
  // its caches and load (sometimes "unsupported image format").
  try {
    const st = await fs.promises.stat(file);
    if (st.isDirectory()) throw new ImageReadError(file, 'it is a folder, not an image file');
    if (!st.isFile()) throw new ImageReadError(file, 'not a regular file');
  } catch (e) {
    throw e instanceof ImageReadError ? e : new ImageReadError(file, cleanReason(e));
  }
  let meta: sharp.Metadata;
  try {
    meta = await sharp(file, { failOn: 'error', limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  } catch (e) {
    throw new ImageReadError(file, cleanReason(e));
  }
  if (!meta.width || !meta.height || !meta.format) throw new ImageReadError(file, 'no image size in the header');
  if (meta.width * meta.height > MAX_INPUT_PIXELS)
    throw new ImageReadError(
      file,
      `${meta.width}x${meta.height} is larger than the ${MAX_INPUT_PIXELS / 1e6} megapixel limit (${PIXEL_LIMIT})`,
    );
  return { format: meta.format, width: meta.width, height: meta.height };
}
