import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  readSafetensors,
  SafetensorsError,
  SafetensorsFile,
  writeSafetensors,
} from '../../../src/engine/io/safetensors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-safetensors-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Build a file by hand: header object + raw data bytes. */
function handMade(name: string, header: unknown, data: Uint8Array, headerText?: string): string {
  const json = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([len, json, Buffer.from(data)]));
  return file;
}

function u16le(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
  return b;
}

describe('safetensors writer and reader', () => {
  test('F32 round trip keeps names, shapes, values and metadata; keys sorted; header padded to 8 bytes', () => {
    const file = path.join(dir, 'round.safetensors');
    const b = new Float32Array([1.5, -2, 3.25, 0, Number.MIN_VALUE, -Infinity]);
    const a = new Float32Array([42]);
    const empty = new Float32Array(0);
    writeSafetensors(
      file,
      {
        'z.b': { shape: [2, 3], data: b },
        'a.scalar': { shape: [], data: () => a },
        'm.empty': { shape: [0, 4], data: empty },
      },
      { format: 'pt' },
    );

    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0, 'header length is a multiple of 8');
    const headerText = bytes.subarray(8, 8 + n).toString('utf8');
    assert.match(headerText, / *$/);
    const header = JSON.parse(headerText) as Record<string, { data_offsets: number[] }>;
    assert.deepEqual(Object.keys(header), ['__metadata__', 'a.scalar', 'm.empty', 'z.b']);
    assert.deepEqual(header['a.scalar']!.data_offsets, [0, 4]);
    assert.deepEqual(header['z.b']!.data_offsets, [4, 28]);
    assert.equal(bytes.length, 8 + n + 28);

    const back = readSafetensors(file);
    assert.deepEqual(back.metadata, { format: 'pt' });
    assert.deepEqual(back.tensors.get('z.b')!.shape, [2, 3]);
    assert.deepEqual([...back.tensors.get('z.b')!.data], [...b]);
    assert.deepEqual([...back.tensors.get('a.scalar')!.data], [42]);
    assert.equal(back.tensors.get('m.empty')!.data.length, 0);
    // Atomic write: no temporary file left behind.
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
    );
  });

  test('an existing file is replaced whole', () => {
    const file = path.join(dir, 'replace.safetensors');
    writeSafetensors(file, { x: { shape: [1000], data: new Float32Array(1000).fill(1) } });
    writeSafetensors(file, { y: { shape: [1], data: new Float32Array([2]) } });
    const back = readSafetensors(file);
    assert.deepEqual([...back.tensors.keys()], ['y']);
  });

  test('a writer that fails half-way leaves the old file and no temporary file', () => {
    const file = path.join(dir, 'keep.safetensors');
    writeSafetensors(file, { x: { shape: [1], data: new Float32Array([7]) } });
    assert.throws(
      () =>
        writeSafetensors(file, {
          x: { shape: [2], data: new Float32Array([1, 2]) },
          y: { shape: [3], data: new Float32Array(2) },
        }),
      /tensor "y" has 2 values but shape \[3\] needs 3/,
    );
    assert.deepEqual([...readSafetensors(file).tensors.get('x')!.data], [7]);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
    );
  });

  test('F16 is decoded exactly (normal, subnormal, signed zero, max, infinities, NaN)', () => {
    // 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, +inf, -inf, NaN, 0.333251953125
    const halves = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555];
    const file = handMade(
      'f16.safetensors',
      { h: { dtype: 'F16', shape: [2, 5], data_offsets: [0, 20] } },
      u16le(halves),
    );
    const f = SafetensorsFile.open(file);
    const v = f.read('h');
    f.close();
    assert.deepEqual([...v.slice(0, 5)], [1, -2, 0.5, 65504, 2 ** -24]);
    assert.ok(Object.is(v[5], -0));
    assert.equal(v[6], Infinity);
    assert.equal(v[7], -Infinity);
    assert.ok(Number.isNaN(v[8]));
    assert.equal(v[9], 0.333251953125);
  });

  test('BF16 is decoded as the top half of a float32', () => {
    // 1, -2, 3.140625, 1e-40-ish subnormal (0x0001 -> 2^-133), -inf
    const values = [0x3f80, 0xc000, 0x4049, 0x0001, 0xff80];
    const file = handMade(
      'bf16.safetensors',
      { b: { dtype: 'BF16', shape: [5], data_offsets: [0, 10] } },
      u16le(values),
    );
    const back = readSafetensors(file).tensors.get('b')!.data;
    assert.deepEqual([...back], [1, -2, 3.140625, 2 ** -133, -Infinity]);
  });

  describe('header validation names the file and the tensor', () => {
    const cases: Array<[string, () => string, RegExp]> = [
      [
        'not JSON',
        () => handMade('badjson.safetensors', null, new Uint8Array(0), '{"a": [1,'),
        /badjson\.safetensors: the header is not valid JSON/,
      ],
      [
        'header longer than the file',
        () => {
          const file = path.join(dir, 'toolong.safetensors');
          const len = Buffer.alloc(8);
          len.writeBigUInt64LE(1000n);
          fs.writeFileSync(file, Buffer.concat([len, Buffer.from('{}')]));
          return file;
        },
        /toolong\.safetensors: header length 1000 is larger than the file allows/,
      ],
      ['tiny file', () => handMadeRaw('tiny.safetensors', Buffer.from([1, 2, 3])), /tiny\.safetensors: only 3 bytes/],
      [
        'data past the end',
        () =>
          handMade('short.safetensors', { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
        /short\.safetensors: tensor "w": data \[0, 16\) runs past the end of the file/,
      ],
      [
        'size does not match the shape',
        () =>
          handMade('size.safetensors', { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
        /size\.safetensors: tensor "w": holds 8 bytes but shape \[3\] of F32 needs 12/,
      ],
      [
        'overlapping tensors',
        () =>
          handMade(
            'overlap.safetensors',
            {
              a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
              b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
            },
            new Uint8Array(12),
          ),
        /overlap\.safetensors: tensors "a" and "b" overlap/,
      ],
      [
        'unknown dtype',
        () =>
          handMade('dtype.safetensors', { w: { dtype: 'F12', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)),
        /dtype\.safetensors: tensor "w": unknown dtype "F12"/,
      ],
      [
        'negative shape',
        () =>
          handMade('shape.safetensors', { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
        /shape\.safetensors: tensor "w": shape must be a list of non-negative integers/,
      ],
      [
        'bad metadata',
        () => handMade('meta.safetensors', { __metadata__: { n: 1 } }, new Uint8Array(0)),
        /meta\.safetensors: `__metadata__.n` must be a string/,
      ],
    ];
    for (const [label, make, expected] of cases) {
      test(label, () => {
        const file = make();
        assert.throws(
          () => SafetensorsFile.open(file),
          (e: unknown) => e instanceof SafetensorsError && expected.test(e.message),
        );
      });
    }

    test('reading an unsupported dtype or a missing tensor', () => {
      const file = handMade(
        'ints.safetensors',
        { i: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } },
        new Uint8Array(4),
      );
      const f = SafetensorsFile.open(file);
      try {
        assert.throws(() => f.read('i'), /ints\.safetensors: tensor "i" is I32; only F32, F16 and BF16 can be read/);
        assert.throws(() => f.read('nope'), /ints\.safetensors: has no tensor "nope"/);
      } finally {
        f.close();
      }
      assert.throws(() => f.read('i'), /the file was closed/);
    });

    test('a missing file', () => {
      assert.throws(
        () => SafetensorsFile.open(path.join(dir, 'absent.safetensors')),
        /absent\.safetensors: cannot open \(ENOENT\)/,
      );
    });
  });
});

function handMadeRaw(name: string, bytes: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}
