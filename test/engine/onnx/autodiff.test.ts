/**
 * Reverse-mode differentiation of ONNX graphs (src/engine/onnx/autodiff.ts
 * and its per-op rules, vjp.ts) against central finite differences, op by
 * op, run by onnxruntime-node: each test builds y = op(inputs), derives
 * d⟨y, seed⟩/d(inputs) and compares every element with
 * (f(x + h) - f(x - h)) / 2h. Broadcast inputs are tested both with
 * declared dimensions (axes known when the graph is built) and as computed
 * values (axes found when it runs).
 *
 * float32 throughout: h = 1e-2, tolerance 3e-3 · max(1, |gradient|)
 * (truncation error O(h²), rounding O(1e-7 / h)).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendGradients } from '../../../src/engine/onnx/autodiff';
import { FLOAT, GraphBuilder } from '../../../src/engine/onnx/graph';
import { createOnnxSession } from '../../../src/engine/onnx/runtime';
import { Rng } from '../../../src/engine/util/rng';

const H = 1e-2;
const TOLERANCE = 3e-3;

interface Case {
  inputs: number[][];
  outDims: number[];
  build: (g: GraphBuilder, x: string[]) => string;
  /** Keep inputs away from where the op is not smooth (a divisor away from zero). */
  positive?: number[];
}

function randoms(n: number, rng: Rng, positive: boolean): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = positive ? 0.8 + rng.next() : rng.uniform(-1.5, 1.5);
  return out;
}

async function checkGradients(c: Case): Promise<void> {
  const g = new GraphBuilder('vjp_test');
  const names = c.inputs.map((dims, i) => g.input(`x${i}`, FLOAT, dims));
  const y = c.build(g, names);
  const seed = g.input('seed', FLOAT, c.outDims);
  const grads = appendGradients(g, y, seed, names);
  g.output(y, 'y', FLOAT, c.outDims);
  const outputs = names.map((n) => `grad_${n}`);
  names.forEach((n, i) => {
    assert.ok(grads.has(n), `input ${n} gets a gradient`);
    g.output(grads.get(n)!, outputs[i]!, FLOAT, c.inputs[i]!);
  });
  const session = await createOnnxSession(g.toModel({ name: 'test', version: '0' }).toBytes(), {
    device: 'cpu',
    threads: 1,
  });
  try {
    const rng = new Rng(7);
    const size = (d: number[]) => d.reduce((a, b) => a * b, 1);
    const values = c.inputs.map((d, i) => randoms(size(d), rng, c.positive?.includes(i) ?? false));
    const seedValues = randoms(size(c.outDims), rng, false);
    const feeds = () => {
      const f: Record<string, { data: Float32Array; dims: number[] }> = {
        seed: { data: seedValues, dims: c.outDims },
      };
      names.forEach((n, i) => (f[n] = { data: values[i]!, dims: c.inputs[i]! }));
      return f;
    };
    const objective = async () => {
      const out = (await session.run(feeds(), 'y')).data;
      let s = 0;
      for (let i = 0; i < out.length; i++) s += out[i]! * seedValues[i]!;
      return s;
    };
    const result = await session.runMany(feeds(), [...outputs, 'y']);
    assert.deepEqual([...result.get('y')!.dims], c.outDims, 'output dims');
    for (let k = 0; k < names.length; k++) {
      const grad = result.get(outputs[k]!)!.data;
      assert.equal(grad.length, values[k]!.length, `${names[k]}: gradient size`);
      for (let i = 0; i < grad.length; i++) {
        const v = values[k]![i]!;
        values[k]![i] = v + H;
        const up = await objective();
        values[k]![i] = v - H;
        const down = await objective();
        values[k]![i] = v;
        const fd = (up - down) / (2 * H);
        const diff = Math.abs(fd - grad[i]!);
        assert.ok(
          diff <= TOLERANCE * Math.max(1, Math.abs(fd)),
          `${names[k]}[${i}]: autodiff ${grad[i]} vs finite difference ${fd}`,
        );
      }
    }
  } finally {
    await session.release();
  }
}

/**
 * x spread to its own shape read at run time: its sizes are unknown when the graph is built (shapes.ts infers
 * none through Expand), so broadcasting against it is found at run time.
 */
function computed(g: GraphBuilder, x: string): string {
  return g.op('Expand', [x, g.op('Shape', [x])]);
}

const CASES: Record<string, Case> = {
  'Add, a bias broadcast over rows (declared dims)': {
    inputs: [[2, 3, 4], [4]],
    outDims: [2, 3, 4],
    build: (g, [a, b]) => g.op('Add', [a!, b!]),
  },
  'Add, broadcast over the batch axis (computed value)': {
    inputs: [
      [2, 3, 4],
      [1, 3, 4],
    ],
    outDims: [2, 3, 4],
    build: (g, [a, b]) => g.op('Add', [a!, computed(g, b!)]),
  },
  'Sub with a broadcast scalar-like input': {
    inputs: [
      [3, 4],
      [3, 1],
    ],
    outDims: [3, 4],
    build: (g, [a, b]) => g.op('Sub', [a!, computed(g, b!)]),
  },
  'Mul, LayerScale-like [D] factor': {
    inputs: [[2, 3, 4], [4]],
    outDims: [2, 3, 4],
    build: (g, [a, b]) => g.op('Mul', [a!, b!]),
  },
  'Div by a positive broadcast divisor': {
    inputs: [[2, 3], [3]],
    outDims: [2, 3],
    build: (g, [a, b]) => g.op('Div', [a!, b!]),
    positive: [1],
  },
  Erf: { inputs: [[2, 5]], outDims: [2, 5], build: (g, [a]) => g.op('Erf', [a!]) },
  Sigmoid: { inputs: [[2, 5]], outDims: [2, 5], build: (g, [a]) => g.op('Sigmoid', [a!]) },
  'Softmax over the last axis': {
    inputs: [[2, 2, 5]],
    outDims: [2, 2, 5],
    build: (g, [a]) => g.op('Softmax', [a!], { axis: { int: -1 } }),
  },
  'LayerNormalization with scale and bias': {
    inputs: [[2, 3, 6], [6], [6]],
    outDims: [2, 3, 6],
    build: (g, [x, w, b]) => g.op('LayerNormalization', [x!, w!, b!], { axis: { int: -1 }, epsilon: { float: 1e-6 } }),
  },
  'MatMul, activations times a weight [N, T, K] x [K, O]': {
    inputs: [
      [2, 3, 4],
      [4, 5],
    ],
    outDims: [2, 3, 5],
    build: (g, [a, b]) => g.op('MatMul', [a!, b!]),
  },
  'MatMul, batched heads [N, h, T, d] x [N, h, d, T]': {
    inputs: [
      [2, 2, 3, 4],
      [2, 2, 4, 3],
    ],
    outDims: [2, 2, 3, 3],
    build: (g, [a, b]) => g.op('MatMul', [a!, b!]),
  },
  'MatMul, a constant-like left matrix [P, Q] x [Q, D]': {
    inputs: [
      [5, 4],
      [4, 3],
    ],
    outDims: [5, 3],
    build: (g, [a, b]) => g.op('MatMul', [a!, b!]),
  },
  'Reshape and Transpose': {
    inputs: [[2, 12]],
    outDims: [2, 4, 3],
    build: (g, [a]) =>
      g.op('Transpose', [g.op('Reshape', [a!, g.int64s('shape', [0, 3, 4])])], { perm: { ints: [0, 2, 1] } }),
  },
  'Concat along tokens': {
    inputs: [
      [2, 1, 3],
      [2, 4, 3],
    ],
    outDims: [2, 5, 3],
    build: (g, [a, b]) => g.op('Concat', [a!, b!], { axis: { int: 1 } }),
  },
  'Split into halves, both used': {
    inputs: [[2, 6]],
    outDims: [2, 3],
    build: (g, [a]) => {
      const [x1, x2] = g.node('Split', [a!, g.int64s('split', [3, 3])], { axis: { int: -1 } }, 2);
      return g.op('Mul', [g.op('Sigmoid', [x1!]), x2!]);
    },
  },
  'Split, one half unused': {
    inputs: [[2, 6]],
    outDims: [2, 2],
    build: (g, [a]) => g.node('Split', [a!, g.int64s('split', [4, 2])], { axis: { int: 1 } }, 2)[1]!,
  },
  'Slice of the patch tokens': {
    inputs: [[2, 6, 3]],
    outDims: [2, 4, 3],
    build: (g, [a]) => g.op('Slice', [a!, g.int64s('s', [1]), g.int64s('e', [5]), g.int64s('ax', [1])]),
  },
  'Gather of the CLS token': {
    inputs: [[2, 4, 3]],
    outDims: [2, 3],
    build: (g, [a]) => g.op('Gather', [a!, g.int64s('i', [0], [])], { axis: { int: 1 } }),
  },
  'ReduceMean over tokens, keepdims 0': {
    inputs: [[2, 4, 3]],
    outDims: [2, 3],
    build: (g, [a]) => g.op('ReduceMean', [a!], { axes: { ints: [1] }, keepdims: { int: 0 } }),
  },
  Neg: { inputs: [[2, 5]], outDims: [2, 5], build: (g, [a]) => g.op('Neg', [a!]) },
  'Sqrt of a positive input': {
    inputs: [[2, 5]],
    outDims: [2, 5],
    build: (g, [a]) => g.op('Sqrt', [a!]),
    positive: [0],
  },
  'Reciprocal of a positive input': {
    inputs: [[2, 5]],
    outDims: [2, 5],
    build: (g, [a]) => g.op('Reciprocal', [a!]),
    positive: [0],
  },
  'Max of two inputs, one broadcast (no ties)': {
    inputs: [
      [3, 4],
      [3, 1],
    ],
    outDims: [3, 4],
    build: (g, [a, b]) => g.op('Max', [a!, b!]),
  },
  'LogSoftmax over rows': {
    inputs: [[3, 5]],
    outDims: [3, 5],
    build: (g, [a]) => g.op('LogSoftmax', [a!], { axis: { int: 1 } }),
  },
  'ReduceSum over rows, keepdims 1': {
    inputs: [[2, 4, 3]],
    outDims: [2, 1, 3],
    build: (g, [a]) => g.op('ReduceSum', [a!, g.int64s('axes', [1])], { keepdims: { int: 1 } }),
  },
  'ReduceSum of everything to a scalar, keepdims 0': {
    inputs: [[2, 3]],
    outDims: [],
    build: (g, [a]) => g.op('ReduceSum', [a!, g.int64s('axes', [0, 1])], { keepdims: { int: 0 } }),
  },
  'Expand over a run-time batch': {
    inputs: [
      [1, 2, 3],
      [4, 1, 1],
    ],
    outDims: [4, 2, 3],
    build: (g, [a, b]) => g.op('Add', [g.op('Expand', [a!, g.op('Shape', [b!])]), b!]),
  },
  'a value used twice (gradients add up)': {
    inputs: [[3, 3]],
    outDims: [3, 3],
    build: (g, [a]) => g.op('MatMul', [a!, g.op('Erf', [a!])]),
  },
};

describe('autodiff: each op’s vector-Jacobian product equals finite differences', () => {
  for (const [name, c] of Object.entries(CASES)) test(name, () => checkGradients(c));

  test('an op without a rule is refused by name', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', FLOAT, [2]);
    const y = g.op('Tanh', [x]);
    assert.throws(() => appendGradients(g, y, g.input('seed', FLOAT, [2]), [x]), /no gradient rule for ONNX op Tanh/);
  });

  test('inputs the output does not depend on get no gradient; frozen inputs get no nodes', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', FLOAT, [2]);
    const unused = g.input('u', FLOAT, [2]);
    const frozen = g.floats('w', Float32Array.of(1, 2), [2]);
    const y = g.op('Mul', [x, frozen]);
    const before = g.nodeList().length;
    const grads = appendGradients(g, y, g.input('seed', FLOAT, [2]), [x, unused]);
    assert.deepEqual([...grads.keys()], [x]);
    // dx = seed · w: one Mul (w's gradient is not built).
    assert.equal(g.nodeList().length - before, 1);
  });
});
