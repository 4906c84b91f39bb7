/**
 * Bicubic resampling that reproduces Pillow's `Image.resize(size, BICUBIC)`
 * on 8-bit RGB bit for bit, because Hugging Face's image processors resize
 * through Pillow and the model was trained (and is evaluated) on those pixels.
 *
 * Pillow's algorithm, as implemented here:
 * - a separable convolution with the cubic kernel a = -0.5, support 2;
 * - antialiasing when shrinking: the kernel is stretched by the scale factor;
 * - per output pixel, the taps are normalised to sum to 1, then quantised to
 *   22-bit fixed point; sums are rounded (+ half) and clipped to 0..255;
 * - the horizontal pass runs first and its result is rounded to 8 bits
 *   before the vertical pass (that intermediate rounding is why a float
 *   implementation differs by up to a level or two);
 * - a pass whose size and box do not change anything is skipped.
 */
import type { RgbImage } from './decode';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
const SUPPORT = 2;

function cubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Taps {
  /** Per output index: first input index and number of taps. */
  first: Int32Array;
  count: Int32Array;
  /** Fixed-point weights, `ksize` slots per output index. */
  weights: Int32Array;
  ksize: number;
}

/**
 * The taps for one axis: input [in0, in1) of an axis of `inSize` pixels onto
 * `outSize` pixels. Box edges are single precision in Pillow, hence fround.
 */
function taps(inSize: number, in0: number, in1: number, outSize: number): Taps {
  const f0 = Math.fround(in0);
  const scale = Math.fround(Math.fround(in1) - f0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = SUPPORT * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const inv = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = f0 + (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = cubic((x + xmin - center + 0.5) * inv);
      k[x] = w;
      sum += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? k[x]! / sum : k[x]!;
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { first, count, weights, ksize };
}

function clip8(acc: number): number {
  // Arithmetic shift, like Pillow's `in >> PRECISION_BITS` on an int.
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** A source rectangle; fractional edges are allowed, as in Pillow's `box`. */
export interface SourceBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Part of the output to compute: the rest of the `outWidth` x `outHeight` image is never evaluated. */
export interface OutputRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Resize `src` (or its `box`) to `outWidth` x `outHeight`, as Pillow does,
 * and return the pixels of `region` of that result (default: all of it).
 * Each output pixel depends only on its own taps, so computing a region
 * gives exactly the pixels a full resize followed by a crop would.
 */
export function resizeBicubic(
  src: RgbImage,
  outWidth: number,
  outHeight: number,
  box?: SourceBox,
  region?: OutputRegion,
): RgbImage {
  const b = box ?? { x0: 0, y0: 0, x1: src.width, y1: src.height };
  const r = region ?? { x: 0, y: 0, width: outWidth, height: outHeight };
  if (r.x < 0 || r.y < 0 || r.x + r.width > outWidth || r.y + r.height > outHeight)
    throw new Error('resizeBicubic: region outside the output');
  const needH = outWidth !== src.width || b.x0 !== 0 || b.x1 !== outWidth;
  const needV = outHeight !== src.height || b.y0 !== 0 || b.y1 !== outHeight;
  const tv = taps(src.height, b.y0, b.y1, outHeight);

  // Source rows the region's vertical taps read.
  let rowFirst = src.height;
  let rowEnd = 0;
  for (let y = r.y; y < r.y + r.height; y++) {
    rowFirst = Math.min(rowFirst, tv.first[y]!);
    rowEnd = Math.max(rowEnd, tv.first[y]! + tv.count[y]!);
  }
  if (!needV) {
    rowFirst = r.y;
    rowEnd = r.y + r.height;
  }

  // Horizontal pass over those rows, for the region's columns: `mid` has
  // r.width columns and rows rowFirst..rowEnd of the source.
  const midRows = rowEnd - rowFirst;
  let mid: Uint8Array;
  if (needH) {
    const th = taps(src.width, b.x0, b.x1, outWidth);
    mid = new Uint8Array(r.width * midRows * 3);
    const s = src.data;
    const sw = src.width * 3;
    for (let yy = 0; yy < midRows; yy++) {
      const rowBase = (yy + rowFirst) * sw;
      let o = yy * r.width * 3;
      for (let xx = r.x; xx < r.x + r.width; xx++) {
        const xmin = th.first[xx]!;
        const n = th.count[xx]!;
        const kb = xx * th.ksize;
        let a0 = HALF;
        let a1 = HALF;
        let a2 = HALF;
        let p = rowBase + xmin * 3;
        for (let x = 0; x < n; x++, p += 3) {
          const w = th.weights[kb + x]!;
          a0 += s[p]! * w;
          a1 += s[p + 1]! * w;
          a2 += s[p + 2]! * w;
        }
        mid[o++] = clip8(a0);
        mid[o++] = clip8(a1);
        mid[o++] = clip8(a2);
      }
    }
  } else {
    // Width unchanged: copy the region's columns of the rows needed.
    mid = new Uint8Array(r.width * midRows * 3);
    for (let yy = 0; yy < midRows; yy++) {
      const from = ((yy + rowFirst) * src.width + r.x) * 3;
      mid.set(src.data.subarray(from, from + r.width * 3), yy * r.width * 3);
    }
  }
  if (!needV) return { data: mid, width: r.width, height: r.height };

  const out = new Uint8Array(r.width * r.height * 3);
  const mw = r.width * 3;
  for (let yy = 0; yy < r.height; yy++) {
    const oy = yy + r.y;
    const ymin = tv.first[oy]! - rowFirst;
    const n = tv.count[oy]!;
    const kb = oy * tv.ksize;
    let o = yy * mw;
    for (let c = 0; c < mw; c++) {
      let acc = HALF;
      let p = ymin * mw + c;
      for (let y = 0; y < n; y++, p += mw) acc += mid[p]! * tv.weights[kb + y]!;
      out[o++] = clip8(acc);
    }
  }
  return { data: out, width: r.width, height: r.height };
}
