// NumPy .npy reading and writing: byte-identical to np.save, readable by np.load, clear errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPython } from '../../helpers/python';
import {
  decodeNpy,
  encodeNpy,
  NpyError,
  readNpy,
  toInt32,
  writeNpy,
  type NpyArray,
} from '../../../src/shared/artifacts/npy';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'retrieval');
const fixture = (name: string) => path.join(FIXTURES, name);
let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-npy-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The same arrays scripts/reference/retrieval_reference.py saved with NumPy. */
const EXPECTED: Record<string, NpyArray> = {
  'numpy_float32.npy': { dtype: '<f4', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 8 - 0.5) },
  'numpy_int64.npy': { dtype: '<i8', shape: [5], data: BigInt64Array.from([11319n, 11319n, 11320n, -5n, 2n ** 40n]) },
  'numpy_int32.npy': { dtype: '<i4', shape: [2, 2], data: Int32Array.from([1, -2, 3, 2147483647]) },
  'numpy_uint8.npy': { dtype: '|u1', shape: [3], data: Uint8Array.from([0, 1, 255]) },
  'numpy_float64_3d.npy': {
    dtype: '<f8',
    shape: [2, 3, 4],
    data: Float64Array.from({ length: 24 }, (_, i) => -1 + (2 * i) / 23),
  },
  'numpy_scalar.npy': { dtype: '<f4', shape: [], data: Float32Array.from([3.5]) },
  'numpy_empty.npy': { dtype: '<f4', shape: [0, 384], data: new Float32Array(0) },
};

test('reads what NumPy wrote: dtype, shape and values', () => {
  for (const [name, want] of Object.entries(EXPECTED)) {
    const got = readNpy(fixture(name));
    assert.equal(got.dtype, want.dtype, name);
    assert.deepEqual(got.shape, want.shape, name);
    if (want.dtype === '<f8') {
      // np.linspace and our formula may differ in the last bit.
      (got.data as Float64Array).forEach((v, i) =>
        assert.ok(Math.abs(v - (want.data as Float64Array)[i]!) < 1e-15, `${name}[${i}]`),
      );
    } else {
      assert.deepEqual(Array.from(got.data as ArrayLike<unknown>), Array.from(want.data as ArrayLike<unknown>), name);
    }
  }
});

test('writes byte for byte what np.save writes (header, 64-byte alignment, data)', () => {
  for (const [name, array] of Object.entries(EXPECTED)) {
    if (array.dtype === '<f8') continue; // linspace values are not reproduced bit-exactly
    const ours = Buffer.from(encodeNpy(array));
    const numpys = fs.readFileSync(fixture(name));
    assert.equal(ours.toString('latin1'), numpys.toString('latin1'), name);
  }
});

test('the data starts at a multiple of 64 bytes for any shape', () => {
  for (const shape of [[1], [7], [123456], [3, 384], [60502, 384], [2, 3, 4, 5]]) {
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = encodeNpy({ dtype: '|u1', shape, data: new Uint8Array(count) });
    const headerLength = bytes[8]! | (bytes[9]! << 8);
    assert.equal((10 + headerLength) % 64, 0, `shape ${shape}`);
    assert.equal(bytes[10 + headerLength - 1], 0x0a, 'header ends with a newline');
    assert.equal(bytes.length, 10 + headerLength + count);
  }
});

test('round trip of every supported dtype through a file, atomically written', () => {
  const arrays: NpyArray[] = [
    { dtype: '<f4', shape: [2, 3], data: Float32Array.from([1.5, -0, Infinity, NaN, 3e-38, -7]) },
    { dtype: '<f8', shape: [2], data: Float64Array.from([Math.PI, -1e300]) },
    { dtype: '|i1', shape: [3], data: Int8Array.from([-128, 0, 127]) },
    { dtype: '|u1', shape: [2], data: Uint8Array.from([0, 255]) },
    { dtype: '|b1', shape: [2], data: Uint8Array.from([1, 0]) },
    { dtype: '<i2', shape: [2], data: Int16Array.from([-32768, 32767]) },
    { dtype: '<u2', shape: [1], data: Uint16Array.from([65535]) },
    { dtype: '<i4', shape: [1, 1, 2], data: Int32Array.from([-2147483648, 2147483647]) },
    { dtype: '<u4', shape: [1], data: Uint32Array.from([4294967295]) },
    { dtype: '<i8', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) },
    { dtype: '<u8', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
  ];
  for (const [i, a] of arrays.entries()) {
    const file = path.join(dir, `rt${i}.npy`);
    writeNpy(file, a);
    const b = readNpy(file);
    assert.equal(b.dtype, a.dtype);
    assert.deepEqual(b.shape, a.shape);
    assert.deepEqual(Array.from(b.data as ArrayLike<unknown>), Array.from(a.data as ArrayLike<unknown>));
  }
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('.tmp')),
    [],
    'no temporary files left behind',
  );
});

test('reads big-endian data by swapping bytes', () => {
  const a = readNpy(fixture('numpy_big_endian.npy'));
  assert.equal(a.dtype, '<f4');
  assert.deepEqual(Array.from(a.data as Float32Array), [1.5, -2.25, Math.fround(1e-3)]);
});

test('errors say what is wrong and what to do', () => {
  assert.throws(
    () => readNpy(fixture('numpy_fortran.npy')),
    (e: Error) =>
      e instanceof NpyError &&
      /Fortran-order.*np\.ascontiguousarray/.test(e.message) &&
      e.message.includes('numpy_fortran.npy'),
  );
  assert.throws(() => readNpy(path.join(dir, 'missing.npy')), /missing\.npy: file not found/);
  assert.throws(() => decodeNpy(Buffer.from('PK\x03\x04 this is a zip'), 'x.npz'), /x\.npz: not a NumPy \.npy file/);

  const good = Buffer.from(encodeNpy({ dtype: '<f4', shape: [4], data: new Float32Array(4) }));
  assert.throws(
    () => decodeNpy(good.subarray(0, good.length - 3), 't.npy'),
    /t\.npy: truncated data: shape \(4\) of <f4 needs 16 bytes, the file has 13/,
  );
  const complex = Buffer.from(good.toString('latin1').replace("'<f4'", "'<c8'"), 'latin1');
  assert.throws(() => decodeNpy(complex, 'c.npy'), /unsupported dtype '<c8'.*astype/);
  const version9 = Buffer.from(good);
  version9[6] = 9;
  assert.throws(() => decodeNpy(version9), /unsupported \.npy format version 9\.0/);

  assert.throws(
    () => encodeNpy({ dtype: '<f4', shape: [2, 2], data: new Float32Array(3) }),
    /holds 4 elements but the data has 3/,
  );
  assert.throws(
    () => encodeNpy({ dtype: '<i4', shape: [1], data: new Float32Array(1) }),
    /does not match the data \(Float32Array\)/,
  );
});

test('toInt32 converts int64 class ids and refuses overflow', () => {
  assert.deepEqual(
    Array.from(toInt32({ dtype: '<i8', shape: [2], data: BigInt64Array.from([11319n, -1n]) })),
    [11319, -1],
  );
  assert.throws(
    () => toInt32(readNpy(fixture('numpy_int64.npy')), 'labels.npy'),
    /labels\.npy: value 1099511627776 at element 4 does not fit in 32 bits/,
  );
  assert.throws(() => toInt32({ dtype: '<f4', shape: [1], data: new Float32Array(1) }), /expected integers, found <f4/);
});

// NumPy of the reference environment (scripts/python/setup.sh), which npm test makes: no skip.
test('NumPy reads the files we write', () => {
  const files = {
    f4: { dtype: '<f4', shape: [2, 3], data: Float32Array.from([0.25, -1, 3.5, 1e-7, 0, 42]) },
    i8: { dtype: '<i8', shape: [3], data: BigInt64Array.from([11319n, -3n, 2n ** 40n]) },
    i4: { dtype: '<i4', shape: [2, 1], data: Int32Array.from([-7, 2147483647]) },
    u1: { dtype: '|u1', shape: [2, 2], data: Uint8Array.from([0, 1, 1, 0]) },
  } satisfies Record<string, NpyArray>;
  for (const [name, a] of Object.entries(files)) writeNpy(path.join(dir, `${name}.npy`), a);
  const script = [
    'import json, sys, numpy as np',
    'out = {}',
    `for name in ${JSON.stringify(Object.keys(files))}:`,
    `    f = sys.argv[1] + '/' + name + '.npy'`,
    '    a = np.load(f)',
    '    with open(f, "rb") as fh:',
    '        v = np.lib.format.read_magic(fh)',
    '        np.lib.format.read_array_header_1_0(fh)',
    '        offset = fh.tell()',
    '    out[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "values": a.ravel().tolist(), "c": bool(a.flags.c_contiguous), "version": list(v), "offset": offset}',
    'print(json.dumps(out))',
  ].join('\n');
  const seen = JSON.parse(runPython(['-c', script, dir])) as Record<
    string,
    { dtype: string; shape: number[]; values: number[]; c: boolean; version: number[]; offset: number }
  >;
  for (const [name, a] of Object.entries(files)) {
    const s = seen[name]!;
    assert.equal(s.dtype, a.dtype, name);
    assert.deepEqual(s.shape, a.shape, name);
    assert.deepEqual(s.version, [1, 0], name);
    assert.equal(s.offset % 64, 0, `${name}: data offset ${s.offset}`);
    assert.ok(s.c, name);
    assert.deepEqual(
      s.values,
      Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v)),
      name,
    );
  }
});
