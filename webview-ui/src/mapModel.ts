/**
 * The embeddings map's geometry and colouring, without the DOM: how points are
 * grouped into colours, where each lands on the canvas, which point is under
 * the pointer (a bucket grid, so hovering stays O(1) at 60k points) and which
 * fall inside a selection box.
 */
import type { GalleryImage } from '../../src/shared/panelProtocol';

/** At most this many products are coloured one by one; more are coloured by super class. */
export const MAX_PRODUCT_COLOURS = 12;

export interface ColourGroups {
  by: 'product' | 'super class' | 'none';
  /** Group names, index = colour index. */
  names: string[];
  /** Group of each point. */
  group: Uint16Array;
}

/** Colour by product when there are few products, else by super class (when the images have one). */
export function colourGroups(images: readonly GalleryImage[]): ColourGroups {
  const products = new Set(images.map((im) => String(im.label)));
  const byProduct = products.size <= MAX_PRODUCT_COLOURS;
  const hasSuper = images.some((im) => im.superClass !== undefined);
  const by = byProduct ? 'product' : hasSuper ? 'super class' : 'none';
  const key = (im: GalleryImage) =>
    by === 'product' ? String(im.label) : by === 'super class' ? (im.superClass ?? '(none)') : 'all';
  const names = [...new Set(images.map(key))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const index = new Map(names.map((n, i) => [n, i]));
  const group = new Uint16Array(images.length);
  images.forEach((im, i) => (group[i] = index.get(key(im))!));
  return { by, names, group };
}

/** Data to canvas pixels: px = ox + sx * x, py = oy - sy * y (y up, as in a plot). */
export interface Transform {
  ox: number;
  oy: number;
  sx: number;
  sy: number;
}

/** Fit the points into a width x height area with `pad` pixels around, same scale on both axes. */
export function fitTransform(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  width: number,
  height: number,
  pad = 8,
): Transform {
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! < minX) minX = x[i]!;
    if (x[i]! > maxX) maxX = x[i]!;
    if (y[i]! < minY) minY = y[i]!;
    if (y[i]! > maxY) maxY = y[i]!;
  }
  // No points: any box will do.
  if (!(maxX >= minX)) [minX, maxX] = [-1, 1];
  if (!(maxY >= minY)) [minY, maxY] = [-1, 1];
  const spanX = Math.max(maxX - minX, 1e-12);
  const spanY = Math.max(maxY - minY, 1e-12);
  // One scale for both axes: distances on the map are distances in the projection.
  const s = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
  const ox = (width - s * (minX + maxX)) / 2;
  const oy = (height + s * (minY + maxY)) / 2;
  return { ox, oy, sx: s, sy: s };
}

/** Screen coordinates of every point. */
export function toScreen(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  t: Transform,
): { px: Float32Array; py: Float32Array } {
  const px = new Float32Array(x.length);
  const py = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    px[i] = t.ox + t.sx * x[i]!;
    py[i] = t.oy - t.sy * y[i]!;
  }
  return { px, py };
}

/** Points bucketed by screen cell, for the point under the pointer. */
export class PointGrid {
  private readonly cols: number;
  private readonly rows: number;
  private readonly start: Int32Array;
  private readonly items: Int32Array;

  constructor(
    private readonly px: Float32Array,
    private readonly py: Float32Array,
    width: number,
    height: number,
    private readonly cell = 8,
  ) {
    this.cols = Math.max(1, Math.ceil(width / cell));
    this.rows = Math.max(1, Math.ceil(height / cell));
    const counts = new Int32Array(this.cols * this.rows + 1);
    const cellOf = new Int32Array(px.length);
    for (let i = 0; i < px.length; i++) {
      const c = this.cellIndex(px[i]!, py[i]!);
      cellOf[i] = c;
      counts[c + 1]!++;
    }
    for (let c = 0; c < this.cols * this.rows; c++) counts[c + 1]! += counts[c]!;
    this.start = counts;
    this.items = new Int32Array(px.length);
    const fill = counts.slice(0, -1);
    for (let i = 0; i < px.length; i++) this.items[fill[cellOf[i]!]!++] = i;
  }

  private cellIndex(x: number, y: number): number {
    const c = Math.min(this.cols - 1, Math.max(0, Math.floor(x / this.cell)));
    const r = Math.min(this.rows - 1, Math.max(0, Math.floor(y / this.cell)));
    return r * this.cols + c;
  }

  /** The point nearest (x, y) within `radius` pixels (lowest index on a tie), or -1. */
  nearest(x: number, y: number, radius = 6): number {
    let best = -1;
    let bestD = radius * radius;
    const c0 = Math.max(0, Math.floor((x - radius) / this.cell));
    const c1 = Math.min(this.cols - 1, Math.floor((x + radius) / this.cell));
    const r0 = Math.max(0, Math.floor((y - radius) / this.cell));
    const r1 = Math.min(this.rows - 1, Math.floor((y + radius) / this.cell));
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cell = r * this.cols + c;
        for (let k = this.start[cell]!; k < this.start[cell + 1]!; k++) {
          const i = this.items[k]!;
          const d = (this.px[i]! - x) ** 2 + (this.py[i]! - y) ** 2;
          if (d < bestD || (d === bestD && best >= 0 && i < best)) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Indexes of the points inside a screen box (corners in any order), ascending. */
export function pointsInBox(px: Float32Array, py: Float32Array, box: Box): number[] {
  const xa = Math.min(box.x0, box.x1);
  const xb = Math.max(box.x0, box.x1);
  const ya = Math.min(box.y0, box.y1);
  const yb = Math.max(box.y0, box.y1);
  const out: number[] = [];
  for (let i = 0; i < px.length; i++) if (px[i]! >= xa && px[i]! <= xb && py[i]! >= ya && py[i]! <= yb) out.push(i);
  return out;
}
