/** Shared by the ONNX tests. */

/** NHWC [n, h, w, c] -> NCHW, the layout ONNX models of images take. */
export function toNchw(data: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < n!; i++)
    for (let y = 0; y < h!; y++)
      for (let x = 0; x < w!; x++)
        for (let k = 0; k < c!; k++) out[((i * c! + k) * h! + y) * w! + x] = data[((i * h! + y) * w! + x) * c! + k]!;
  return out;
}
