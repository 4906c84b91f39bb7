/**
 * Bicubic resizing of the position-embedding grid, as PyTorch's
 * `nn.functional.interpolate(x, size=(h, w), mode="bicubic",
 * align_corners=False[, antialias=True])` computes it.
 *
 * Both variants are separable: out = Rh · P · Rwᵀ per channel, with one
 * [outSize, inSize] weight matrix per axis. The model turns the pair into a
 * single matrix (their Kronecker product) and resizes all channels with one
 * matMul, which is also differentiable for full fine-tuning.
 */

/** Keys' cubic convolution kernel with parameter `a`. */
function cubic(x: number, a: number): number {
  const t = Math.abs(x);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/**
 * Plain bicubic (PyTorch `upsample_bicubic2d`): a = -0.75, source coordinate
 * (dst + 0.5) * in/out - 0.5, four taps with indices clamped to the border.
 */
function bicubicRow(dst: number, inSize: number, outSize: number, row: Float64Array): void {
  const scale = inSize / outSize;
  const src = (dst + 0.5) * scale - 0.5;
  const i0 = Math.floor(src);
  const t = src - i0;
  const weights = [cubic(t + 1, -0.75), cubic(t, -0.75), cubic(1 - t, -0.75), cubic(2 - t, -0.75)];
  for (let k = 0; k < 4; k++) {
    const idx = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
    row[idx]! += weights[k]!;
  }
}

/**
 * Antialiased bicubic (PyTorch `_upsample_bicubic2d_aa`, PIL's filter): a =
 * -0.5; when shrinking, the kernel is stretched by the scale so that every
 * input pixel contributes; taps outside the image are dropped and the weights
 * renormalised.
 */
function antialiasRow(dst: number, inSize: number, outSize: number, row: Float64Array): void {
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const center = scale * (dst + 0.5);
  // Truncation toward zero, as the C++ `(int64_t)` cast does.
  const lo = Math.max(Math.trunc(center - support + 0.5), 0);
  const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
  let total = 0;
  const w: number[] = [];
  for (let j = lo; j < hi; j++) {
    const v = cubic((j - center + 0.5) * invScale, -0.5);
    w.push(v);
    total += v;
  }
  for (let j = lo; j < hi; j++) row[j]! += total !== 0 ? w[j - lo]! / total : 0;
}

/** [outSize, inSize] row-major: row i holds the weights of output i. */
export function resizeMatrix(inSize: number, outSize: number, antialias: boolean): Float64Array {
  const m = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const row = m.subarray(i * inSize, (i + 1) * inSize);
    if (antialias) antialiasRow(i, inSize, outSize, row);
    else bicubicRow(i, inSize, outSize, row);
  }
  return m;
}

/**
 * The [outH*outW, inH*inW] matrix that resizes a row-major (h, w) grid:
 * kron(Rh, Rw), so that flat(out) = K · flat(in) for every channel.
 */
export function gridResizeMatrix(
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  antialias: boolean,
): Float32Array {
  const key = `${inH}x${inW}->${outH}x${outW}${antialias ? ' aa' : ''}`;
  let k = GRID_MATRICES.get(key);
  if (!k) {
    k = buildGridResizeMatrix(inH, inW, outH, outW, antialias);
    GRID_MATRICES.set(key, k);
  }
  return k;
}

/** Fine-tuning resizes the (trainable) grid every step: build each matrix once. */
const GRID_MATRICES = new Map<string, Float32Array>();

function buildGridResizeMatrix(inH: number, inW: number, outH: number, outW: number, antialias: boolean): Float32Array {
  const rh = resizeMatrix(inH, outH, antialias);
  const rw = resizeMatrix(inW, outW, antialias);
  const k = new Float32Array(outH * outW * inH * inW);
  const cols = inH * inW;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const r = (oy * outW + ox) * cols;
      for (let iy = 0; iy < inH; iy++) {
        const wy = rh[oy * inH + iy]!;
        if (wy === 0) continue;
        for (let ix = 0; ix < inW; ix++) k[r + iy * inW + ix] = wy * rw[ox * inW + ix]!;
      }
    }
  }
  return k;
}
