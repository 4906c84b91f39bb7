/**
 * NumPy `.npy` files: the format Python users load with `np.load` and that
 * FAISS or a vector database takes as is.
 *
 * Layout (format 1.0): the magic `\x93NUMPY`, version bytes 1 0, a
 * little-endian uint16 header length, then an ASCII Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }` padded with
 * spaces and ended by `\n` so that the data starts at a multiple of 64 bytes
 * (what NumPy itself writes, so memory-mapped readers get aligned data), then
 * the raw C-order data. We write 1.0 (2.0 only when the header would not fit
 * in 65535 bytes) and read 1.0, 2.0 and 3.0.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../fs/atomic';

/** The dtypes supported, as NumPy's `descr` spells them on a little-endian machine. */
export type NpyDtype = '<f4' | '<f8' | '|i1' | '|u1' | '<i2' | '<u2' | '<i4' | '<u4' | '<i8' | '<u8' | '|b1';

export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray<T extends NpyData = NpyData> {
  dtype: NpyDtype;
  /** C-order shape; [] for a scalar. */
  shape: number[];
  data: T;
}

interface DtypeInfo {
  bytes: number;
  make: (buffer: ArrayBuffer, length: number) => NpyData;
  accepts: (data: NpyData) => boolean;
}

const DTYPES: Record<NpyDtype, DtypeInfo> = {
  '<f4': { bytes: 4, make: (b, n) => new Float32Array(b, 0, n), accepts: (d) => d instanceof Float32Array },
  '<f8': { bytes: 8, make: (b, n) => new Float64Array(b, 0, n), accepts: (d) => d instanceof Float64Array },
  '|i1': { bytes: 1, make: (b, n) => new Int8Array(b, 0, n), accepts: (d) => d instanceof Int8Array },
  '|u1': { bytes: 1, make: (b, n) => new Uint8Array(b, 0, n), accepts: (d) => d instanceof Uint8Array },
  '|b1': { bytes: 1, make: (b, n) => new Uint8Array(b, 0, n), accepts: (d) => d instanceof Uint8Array },
  '<i2': { bytes: 2, make: (b, n) => new Int16Array(b, 0, n), accepts: (d) => d instanceof Int16Array },
  '<u2': { bytes: 2, make: (b, n) => new Uint16Array(b, 0, n), accepts: (d) => d instanceof Uint16Array },
  '<i4': { bytes: 4, make: (b, n) => new Int32Array(b, 0, n), accepts: (d) => d instanceof Int32Array },
  '<u4': { bytes: 4, make: (b, n) => new Uint32Array(b, 0, n), accepts: (d) => d instanceof Uint32Array },
  '<i8': { bytes: 8, make: (b, n) => new BigInt64Array(b, 0, n), accepts: (d) => d instanceof BigInt64Array },
  '<u8': { bytes: 8, make: (b, n) => new BigUint64Array(b, 0, n), accepts: (d) => d instanceof BigUint64Array },
};

/** Spellings NumPy may write for the same dtype (byte order `=` or `|`, `<` on one-byte types). */
const DESCR_ALIASES: Record<string, NpyDtype> = {
  '<i1': '|i1',
  '<u1': '|u1',
  '<b1': '|b1',
  '=f4': '<f4',
  '=f8': '<f8',
  '=i2': '<i2',
  '=u2': '<u2',
  '=i4': '<i4',
  '=u4': '<u4',
  '=i8': '<i8',
  '=u8': '<u8',
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;

/** A file that is not an `.npy` we can read, with the reason and the way out. */
export class NpyError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

export function isNpyDtype(s: string): s is NpyDtype {
  return Object.prototype.hasOwnProperty.call(DTYPES, s);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function headerText(dtype: NpyDtype, shape: readonly number[], prefixBytes: number): string {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${dims}, }`;
  // Pad with spaces so that prefix + header (ending in '\n') is a multiple of ALIGN.
  const unpadded = prefixBytes + dict.length + 1;
  const padding = (ALIGN - (unpadded % ALIGN)) % ALIGN;
  return dict + ' '.repeat(padding) + '\n';
}

/** Serialise an array to the bytes of an `.npy` file. */
export function encodeNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = array;
  const info = DTYPES[dtype];
  if (!info) throw new NpyError(`unsupported dtype ${String(dtype)}; supported: ${Object.keys(DTYPES).join(', ')}`);
  if (!info.accepts(data)) throw new NpyError(`dtype ${dtype} does not match the data (${data.constructor.name})`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new NpyError(`invalid shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
  }
  const count = elementCount(shape);
  if (count !== data.length)
    throw new NpyError(`shape [${shape.join(', ')}] holds ${count} elements but the data has ${data.length}`);

  // Version 1.0 has a uint16 header length (10-byte prefix); 2.0 a uint32 one (12 bytes).
  let major = 1;
  let header = headerText(dtype, shape, 10);
  if (header.length > 0xffff) {
    major = 2;
    header = headerText(dtype, shape, 12);
  }
  const prefix = major === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  // Little-endian data: the typed array's bytes as they are on every platform Node runs on.
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), prefix + header.length);
  return out;
}

/** Write an `.npy` file atomically (temporary file in the same folder, then rename). */
export function writeNpy(file: string, array: NpyArray): void {
  writeFileAtomic(file, encodeNpy(array));
}

interface ParsedHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/**
 * Parse the header dict. It is a Python literal; NumPy writes exactly the
 * keys descr, fortran_order and shape, so a small pattern-based parser is
 * enough and gives precise messages when something else is there.
 */
function parseHeader(text: string, file?: string): ParsedHeader {
  const t = text.trim();
  if (!t.startsWith('{') || !t.endsWith('}'))
    throw new NpyError(`malformed header (not a dict literal): ${JSON.stringify(t.slice(0, 120))}`, file);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(t);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(t);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(t);
  if (!descr) {
    if (/['"]descr['"]\s*:\s*\[/.test(t)) {
      throw new NpyError(
        'structured (record) arrays are not supported; save a plain numeric array (e.g. np.save(f, arr.astype(np.float32)))',
        file,
      );
    }
    throw new NpyError(`malformed header: no 'descr' key in ${JSON.stringify(t.slice(0, 120))}`, file);
  }
  if (!fortran)
    throw new NpyError(`malformed header: no 'fortran_order' key in ${JSON.stringify(t.slice(0, 120))}`, file);
  if (!shape) throw new NpyError(`malformed header: no 'shape' key in ${JSON.stringify(t.slice(0, 120))}`, file);
  const dims = shape[1]!
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '');
  const parsed = dims.map((s) => {
    if (!/^\d+$/.test(s)) throw new NpyError(`malformed header: shape (${shape[1]}) has a non-integer dimension`, file);
    return Number(s);
  });
  return { descr: descr[1]!, fortranOrder: fortran[1] === 'True', shape: parsed };
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** Parse the bytes of an `.npy` file. `file` only names the source in errors. */
export function decodeNpy(bytes: Uint8Array, file?: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new NpyError(
      'not a NumPy .npy file (missing the \\x93NUMPY magic); .npz archives and pickles are not supported',
      file,
    );
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3)
    throw new NpyError(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) throw new NpyError('truncated header', file);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = prefix + headerLength;
  if (bytes.length < dataStart)
    throw new NpyError(
      `truncated header: it declares ${headerLength} bytes, the file has ${bytes.length - prefix} after the prefix`,
      file,
    );
  const headerBytes = bytes.subarray(prefix, dataStart);
  const header = parseHeader(
    major === 3 ? Buffer.from(headerBytes).toString('utf8') : Buffer.from(headerBytes).toString('latin1'),
    file,
  );

  let bigEndian = false;
  let descr = header.descr;
  if (descr.startsWith('>')) {
    bigEndian = true;
    descr = '<' + descr.slice(1);
  }
  const dtype = DESCR_ALIASES[descr] ?? descr;
  if (!isNpyDtype(dtype)) {
    throw new NpyError(
      `unsupported dtype '${header.descr}' (supported: ${Object.keys(DTYPES).join(', ')}); convert it in Python, e.g. arr.astype(np.float32)`,
      file,
    );
  }
  if (header.fortranOrder && header.shape.length > 1) {
    throw new NpyError(
      'Fortran-order arrays are not supported; save a C-order copy: np.save(f, np.ascontiguousarray(arr))',
      file,
    );
  }
  const info = DTYPES[dtype];
  const count = elementCount(header.shape);
  const byteLength = count * info.bytes;
  if (bytes.length - dataStart < byteLength) {
    throw new NpyError(
      `truncated data: shape (${header.shape.join(', ')}) of ${dtype} needs ${byteLength} bytes, the file has ${bytes.length - dataStart}`,
      file,
    );
  }
  // Copy into a fresh buffer: the source may sit at an offset the typed array cannot use.
  const own = new Uint8Array(byteLength);
  own.set(bytes.subarray(dataStart, dataStart + byteLength));
  if (bigEndian && info.bytes > 1) swapBytes(own, info.bytes);
  return { dtype, shape: header.shape, data: info.make(own.buffer, count) };
}

export function readNpy(file: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NpyError(code === 'ENOENT' ? 'file not found' : `cannot read: ${(e as Error).message}`, file);
  }
  return decodeNpy(bytes, file);
}

/** Check an array's dtype and rank, naming the file when they are not what a reader needs. */
export function expectNpy(array: NpyArray, dtypes: readonly NpyDtype[], rank: number, file?: string): void {
  if (!dtypes.includes(array.dtype)) {
    throw new NpyError(`expected dtype ${dtypes.join(' or ')}, found ${array.dtype}`, file);
  }
  if (array.shape.length !== rank) {
    throw new NpyError(`expected a ${rank}-dimensional array, found shape (${array.shape.join(', ')})`, file);
  }
}

/** Integer arrays of any supported integer dtype as Int32Array (class ids, indices); errors on overflow. */
export function toInt32(array: NpyArray, file?: string): Int32Array {
  const { data } = array;
  if (data instanceof Int32Array) return data;
  if (data instanceof Float32Array || data instanceof Float64Array)
    throw new NpyError(`expected integers, found ${array.dtype}`, file);
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]!);
    if (v > 2147483647 || v < -2147483648)
      throw new NpyError(`value ${String(data[i])} at element ${i} does not fit in 32 bits`, file);
    out[i] = v;
  }
  return out;
}
