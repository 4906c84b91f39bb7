/**
 * An exported model's numeric precision, as a pass over the built float32
 * graph (rebuilt with the same names, so the model's maths is still
 * described once, in dinov2Graph.ts):
 *
 * - `fp32`: the graph as built.
 * - `fp16`: every float weight and every computation in float16, with a Cast
 *   from the float32 input and back to the float32 output, so callers feed and
 *   read what they do for fp32. Half the file.
 * - `int8`: dynamic quantization of the weight matrices, as ONNX Runtime's
 *   `quantize_dynamic` does it, in standard ONNX ops: each MatMul by a weight
 *   becomes DynamicQuantizeLinear of its input (uint8, a scale per call),
 *   MatMulInteger by the weight quantized per output channel to int8
 *   (symmetric, scale max|w|/127), and a rescale of the int32 result to float.
 *   ONNX Runtime fuses the pattern into one kernel. Everything else (the patch
 *   Conv, norms, attention's activation products) stays float32. About a
 *   quarter of the file.
 */
import { FLOAT, FLOAT16, GraphBuilder, INT8, type Initializer, type NodeRecord } from './graph';

export const PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of `x` (rounded to nearest, ties to even; overflow to infinity). */
export function float16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal in half precision: the implicit 1 joins the mantissa, shifted into units of 2^-24.
    const shift = 14 - e;
    if (shift > 24) return sign;
    mant |= 0x800000;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa raises the exponent, up to infinity: still the right rounding.
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

function toFloat16(raw: Uint8Array): Uint8Array {
  const src = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = float16Bits(src[i]!);
  return new Uint8Array(out.buffer);
}

function floatsOf(init: Initializer): Float32Array {
  return new Float32Array(init.raw.buffer.slice(init.raw.byteOffset, init.raw.byteOffset + init.raw.byteLength));
}

/** A weight [K, N] quantized per column n: int8 values and scale_n = max_k |w_kn| / 127. */
export function quantizePerColumn(w: Float32Array, k: number, n: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(n);
  for (let r = 0; r < k; r++)
    for (let c = 0; c < n; c++) {
      const a = Math.abs(w[r * n + c]!);
      if (a > scale[c]!) scale[c] = a;
    }
  for (let c = 0; c < n; c++) scale[c] = scale[c]! > 0 ? scale[c]! / 127 : 1;
  const q = new Int8Array(k * n);
  for (let r = 0; r < k; r++)
    for (let c = 0; c < n; c++) q[r * n + c] = Math.max(-127, Math.min(127, Math.round(w[r * n + c]! / scale[c]!)));
  return { q, scale };
}

/** The graph in `precision`; fp32 returns it unchanged. */
export function withPrecision(src: GraphBuilder, precision: Precision): GraphBuilder {
  if (precision === 'fp32') return src;
  return precision === 'fp16' ? toFp16(src) : toInt8(src);
}

// New values are named after the value they derive from (`x_fp16`, `y_quantized`): fresh names from the
// rebuilt graph's counter could meet names of the source graph claimed later.

function toFp16(src: GraphBuilder): GraphBuilder {
  const g = new GraphBuilder(src.name);
  const rename = new Map<string, string>();
  for (const v of src.inputList()) {
    g.input(v.name, v.elemType, v.dims);
    if (v.elemType === FLOAT)
      rename.set(v.name, g.node('Cast', [v.name], { to: { int: FLOAT16 } }, [`${v.name}_fp16`])[0]!);
  }
  for (const init of src.initializerList()) {
    if (init.dataType === FLOAT) g.namedInitializer(init.name, FLOAT16, toFloat16(init.raw), init.dims);
    else g.namedInitializer(init.name, init.dataType, init.raw, init.dims);
  }
  const floatOutputs = new Set(
    src
      .outputList()
      .filter((o) => o.elemType === FLOAT)
      .map((o) => o.name),
  );
  for (const n of src.nodeList()) {
    const attributes = { ...n.attributes };
    const to = attributes.to;
    if (n.opType === 'Cast' && to && 'int' in to && to.int === FLOAT) attributes.to = { int: FLOAT16 };
    // A float graph output is computed in float16 under another name, then cast back under its own.
    const outputs = n.outputs.map((o) => (floatOutputs.has(o) ? `${o}_fp16` : o));
    g.node(
      n.opType,
      n.inputs.map((i) => rename.get(i) ?? i),
      attributes,
      outputs,
    );
    for (const o of n.outputs) if (floatOutputs.has(o)) g.node('Cast', [`${o}_fp16`], { to: { int: FLOAT } }, [o]);
  }
  for (const o of src.outputList()) g.output(o.name, o.name, o.elemType, o.dims);
  return g;
}

function toInt8(src: GraphBuilder): GraphBuilder {
  const g = new GraphBuilder(src.name);
  for (const v of src.inputList()) g.input(v.name, v.elemType, v.dims);
  const inits = new Map(src.initializerList().map((i) => [i.name, i]));
  const isWeight = (n: NodeRecord) => {
    const w = inits.get(n.inputs[1] ?? '');
    return n.opType === 'MatMul' && w !== undefined && w.dataType === FLOAT && w.dims.length === 2;
  };
  // Weights used only by quantized MatMuls leave the file; any other use keeps the float copy too.
  const weights = new Set(src.nodeList().flatMap((n) => (isWeight(n) ? [n.inputs[1]!] : [])));
  const usedElsewhere = new Set(src.nodeList().flatMap((n) => (isWeight(n) ? [n.inputs[0]!] : n.inputs)));
  for (const init of src.initializerList())
    if (!weights.has(init.name) || usedElsewhere.has(init.name))
      g.namedInitializer(init.name, init.dataType, init.raw, init.dims);

  const quantized = new Map<string, { q: string; scale: string; zero: string }>();
  for (const n of src.nodeList()) {
    if (!isWeight(n)) {
      g.node(n.opType, n.inputs, n.attributes, n.outputs);
      continue;
    }
    const wName = n.inputs[1]!;
    let w = quantized.get(wName);
    if (!w) {
      const init = inits.get(wName)!;
      const [k, cols] = init.dims as [number, number];
      const { q, scale } = quantizePerColumn(floatsOf(init), k, cols);
      w = {
        q: g.namedInitializer(`${wName}_quantized`, INT8, new Uint8Array(q.buffer), [k, cols]),
        scale: g.namedInitializer(`${wName}_scale`, FLOAT, new Uint8Array(scale.buffer), [cols]),
        zero: g.namedInitializer(`${wName}_zero_point`, INT8, new Uint8Array(cols), [cols]),
      };
      quantized.set(wName, w);
    }
    const y = n.outputs[0]!;
    const [aq, aScale, aZero] = g.node('DynamicQuantizeLinear', [n.inputs[0]!], {}, [
      `${y}_input_quantized`,
      `${y}_input_scale`,
      `${y}_input_zero_point`,
    ]) as [string, string, string];
    const [product] = g.node('MatMulInteger', [aq, w.q, aZero, w.zero], {}, [`${y}_int32`]);
    const [asFloat] = g.node('Cast', [product!], { to: { int: FLOAT } }, [`${y}_unscaled`]);
    const [scale] = g.node('Mul', [aScale, w.scale], {}, [`${y}_scale`]);
    g.node('Mul', [asFloat!, scale!], {}, [y]);
  }
  for (const o of src.outputList()) g.output(o.name, o.name, o.elemType, o.dims);
  return g;
}
