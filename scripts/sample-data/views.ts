/**
 * Photographs of a drawing: each view of a product places the same drawing
 * on a different background (sometimes with clutter behind it), at a
 * different scale, position and rotation, possibly mirrored, with different
 * lighting, then stores it as a small JPEG.
 * The differences are what a retrieval model has to learn to ignore.
 */
import sharp from 'sharp';
import { Rng } from '../../src/engine/util/rng';
import type { Drawing } from './drawings';

/** Canvas sizes: mostly square, some landscape and portrait, like product photos. */
const CANVASES: ReadonlyArray<[number, number]> = [
  [144, 144],
  [144, 144],
  [160, 128],
  [128, 160],
];

export const JPEG_QUALITY = 80;

const hex = (v: number) =>
  Math.max(0, Math.min(255, Math.round(v)))
    .toString(16)
    .padStart(2, '0');

function randomColour(rng: Rng, lightness: [number, number]): string {
  // HSL -> RGB, enough for backgrounds.
  const h = rng.uniform(0, 360);
  const s = rng.uniform(0.05, 0.6);
  const l = rng.uniform(lightness[0], lightness[1]);
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] =
    h < 60
      ? [c, x, 0]
      : h < 120
        ? [x, c, 0]
        : h < 180
          ? [0, c, x]
          : h < 240
            ? [0, x, c]
            : h < 300
              ? [x, 0, c]
              : [c, 0, x];
  return `#${hex((r + m) * 255)}${hex((g + m) * 255)}${hex((b + m) * 255)}`;
}

/** A background: plain, gradient, stripes or a soft texture. */
async function background(w: number, h: number, rng: Rng): Promise<Buffer> {
  const kind = rng.int(4);
  const light: [number, number] = rng.next() < 0.75 ? [0.6, 0.97] : [0.15, 0.45];
  const a = randomColour(rng, light);
  const b = randomColour(rng, light);
  let svg: string;
  if (kind === 0) {
    svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="${a}"/></svg>`;
  } else if (kind === 1) {
    const angle = rng.uniform(0, 360);
    svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><linearGradient id="g" gradientTransform="rotate(${angle.toFixed(1)} 0.5 0.5)"><stop offset="0" stop-color="${a}"/><stop offset="1" stop-color="${b}"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  } else if (kind === 2) {
    const stripe = 4 + rng.int(12);
    const angle = rng.uniform(0, 180);
    svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><pattern id="p" width="${2 * stripe}" height="${2 * stripe}" patternUnits="userSpaceOnUse" patternTransform="rotate(${angle.toFixed(1)})"><rect width="${2 * stripe}" height="${2 * stripe}" fill="${a}"/><rect width="${stripe}" height="${2 * stripe}" fill="${b}"/></pattern></defs><rect width="100%" height="100%" fill="url(#p)"/></svg>`;
  } else {
    // Soft blotches: coarse seeded noise, scaled up smoothly, tinted.
    const gw = 6;
    const gh = 6;
    const noise = Buffer.alloc(gw * gh * 3);
    const base = rng.uniform(light[0], light[1]) * 255;
    for (let i = 0; i < noise.length; i++) noise[i] = Math.max(0, Math.min(255, base + rng.uniform(-40, 40)));
    return sharp(noise, { raw: { width: gw, height: gh, channels: 3 } })
      .resize(w, h, { kernel: 'cubic' })
      .raw()
      .toBuffer();
  }
  return sharp(Buffer.from(svg)).flatten({ background: a }).raw().toBuffer();
}

/** Clutter behind the product: one or two plain shapes, as on a shop shelf or a table. */
function clutter(w: number, h: number, rng: Rng): Buffer {
  const shapes: string[] = [];
  const n = 1 + rng.int(2);
  for (let i = 0; i < n; i++) {
    const fill = randomColour(rng, [0.2, 0.85]);
    const opacity = rng.uniform(0.4, 0.85).toFixed(2);
    const cx = rng.uniform(0, w).toFixed(0);
    const cy = rng.uniform(0, h).toFixed(0);
    const r = rng.uniform(0.1, 0.25) * Math.min(w, h);
    shapes.push(
      rng.next() < 0.5
        ? `<circle cx="${cx}" cy="${cy}" r="${r.toFixed(0)}" fill="${fill}" fill-opacity="${opacity}"/>`
        : `<rect x="${(Number(cx) - r).toFixed(0)}" y="${(Number(cy) - r / 2).toFixed(0)}" width="${(2 * r).toFixed(0)}" height="${r.toFixed(0)}" fill="${fill}" fill-opacity="${opacity}" transform="rotate(${rng.uniform(0, 180).toFixed(0)} ${cx} ${cy})"/>`,
    );
  }
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${shapes.join('')}</svg>`);
}

/** A light (or shadow) patch over the scene: radial gradient, semi-transparent. */
function lightPatch(w: number, h: number, rng: Rng): Buffer {
  const cx = rng.uniform(0, 1).toFixed(2);
  const cy = rng.uniform(0, 1).toFixed(2);
  const colour = rng.next() < 0.6 ? '#ffffff' : '#000000';
  const opacity = rng.uniform(0.15, 0.4).toFixed(2);
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><radialGradient id="r" cx="${cx}" cy="${cy}" r="0.7"><stop offset="0" stop-color="${colour}" stop-opacity="${opacity}"/><stop offset="1" stop-color="${colour}" stop-opacity="0"/></radialGradient></defs><rect width="100%" height="100%" fill="url(#r)"/></svg>`,
  );
}

/** One JPEG view of `drawing`; everything random comes from `rng`. */
export async function renderView(drawing: Drawing, rng: Rng): Promise<Buffer> {
  const [w, h] = CANVASES[rng.int(CANVASES.length)]!;
  const scale = rng.uniform(0.55, 0.95);
  const longest = Math.max(16, Math.round(scale * Math.min(w, h)));
  const angle = rng.uniform(-30, 30);
  const mirror = rng.next() < 0.3;

  let object = sharp(drawing.png).resize(longest, longest, { fit: 'inside', kernel: 'lanczos3' });
  if (mirror) object = object.flop();
  const rotated = await object
    .rotate(angle, { background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .png()
    .toBuffer({ resolveWithObject: true });
  const ow = rotated.info.width;
  const oh = rotated.info.height;
  // Centre plus a shift of up to 15% of the canvas; the object may be cut at the edge.
  const x = Math.round((w - ow) / 2 + rng.uniform(-0.15, 0.15) * w);
  const y = Math.round((h - oh) / 2 + rng.uniform(-0.15, 0.15) * h);
  // Place the object on a transparent canvas of the view's size (it may stick out on any side).
  const margin = Math.max(w, h) + Math.max(ow, oh);
  // Two pipelines: within one, sharp extracts before it extends.
  const padded = await sharp(rotated.data)
    .extend({ top: margin, bottom: margin, left: margin, right: margin, background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .png()
    .toBuffer();
  const placed = await sharp(padded)
    .extract({ left: margin - x, top: margin - y, width: w, height: h })
    .png()
    .toBuffer();

  const bg = await background(w, h, rng);
  const brightness = rng.uniform(0.75, 1.2);
  const saturation = rng.uniform(0.5, 1.4);
  const hue = Math.round(rng.uniform(-20, 20));
  const grey = rng.next() < 0.08;
  const blur = rng.next() < 0.15 ? rng.uniform(0.5, 1.1) : 0;
  const patch = lightPatch(w, h, rng);
  const layers: sharp.OverlayOptions[] = rng.next() < 0.4 ? [{ input: clutter(w, h, rng) }] : [];
  layers.push({ input: placed }, { input: patch });

  let view = sharp(
    await sharp(bg, { raw: { width: w, height: h, channels: 3 } })
      .composite(layers)
      .png()
      .toBuffer(),
  ).modulate({ brightness, saturation, hue });
  if (grey) view = view.greyscale();
  if (blur > 0) view = view.blur(blur);
  return view.jpeg({ quality: JPEG_QUALITY, chromaSubsampling: '4:2:0' }).toBuffer();
}
