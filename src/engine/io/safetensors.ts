/**
 * The safetensors format (Hugging Face): an 8-byte little-endian u64 N, N
 * bytes of JSON header `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}}`, then the data; offsets are relative to
 * the first byte after the header.
 *
 * The reader keeps a file descriptor open and reads one tensor at a time at
 * its offset, so a multi-gigabyte checkpoint never needs to be in memory
 * twice. It converts F32, F16 and BF16 to Float32Array. The writer writes
 * F32 only, streaming tensor by tensor into a temporary file that is renamed
 * into place, so a crash never leaves a torn checkpoint.
 */
import * as fs from 'node:fs';
import { writeFileAtomicWith } from '../../shared/fs/atomic';
import * as os from 'node:os';

/** Bytes per element of every dtype the format defines (we read only F32/F16/BF16). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export type ReadableDtype = 'F32' | 'F16' | 'BF16';
const READABLE: ReadonlySet<string> = new Set<ReadableDtype>(['F32', 'F16', 'BF16']);

/** A header refuses to be larger than this: real headers are kilobytes. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const IS_LITTLE_ENDIAN = os.endianness() === 'LE';
/** Node's readSync/writeSync take at most 2 GiB at once; stay well below. */
const IO_CHUNK = 64 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte offsets in the file: [begin, end). */
  begin: number;
  end: number;
}

/** A tensor as the writer takes it: `data` may be a function, called only when its bytes are written. */
export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array | (() => Float32Array);
}

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parse and validate a header; `fileSize` is the size of the whole file. Exported for tests. */
export function parseHeader(
  file: string,
  headerBytes: Uint8Array,
  fileSize: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const dataStart = 8 + headerBytes.length;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(headerBytes.buffer, headerBytes.byteOffset, headerBytes.byteLength).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(
      file,
      `the header is not valid JSON (${(e as Error).message}); the file is damaged or not a safetensors file`,
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(file, 'the header is not a JSON object; the file is damaged or not a safetensors file');
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        throw new SafetensorsError(file, '`__metadata__` must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string')
          throw new SafetensorsError(file, `\`__metadata__.${k}\` must be a string, got ${JSON.stringify(v)}`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const where = `tensor "${name}"`;
    if (raw === null || typeof raw !== 'object') throw new SafetensorsError(file, `${where}: entry is not an object`);
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry.dtype !== 'string' || !(entry.dtype in DTYPE_BYTES)) {
      throw new SafetensorsError(file, `${where}: unknown dtype ${JSON.stringify(entry.dtype)}`);
    }
    if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(
        file,
        `${where}: shape must be a list of non-negative integers, got ${JSON.stringify(entry.shape)}`,
      );
    }
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SafetensorsError(
        file,
        `${where}: data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`,
      );
    }
    const [b, e] = offsets as [number, number];
    const shape = entry.shape as number[];
    const expected = product(shape) * DTYPE_BYTES[entry.dtype]!;
    if (e < b) throw new SafetensorsError(file, `${where}: data_offsets [${b}, ${e}] end before they begin`);
    if (e - b !== expected) {
      throw new SafetensorsError(
        file,
        `${where}: holds ${e - b} bytes but shape [${shape.join(', ')}] of ${entry.dtype} needs ${expected}`,
      );
    }
    if (dataStart + e > fileSize) {
      throw new SafetensorsError(
        file,
        `${where}: data [${b}, ${e}) runs past the end of the file (${fileSize - dataStart} data bytes); the file is truncated`,
      );
    }
    tensors.set(name, { name, dtype: entry.dtype, shape, begin: dataStart + b, end: dataStart + e });
  }
  // Overlapping tensors mean a corrupt or hostile file.
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((x, y) => x.begin - y.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end)
      throw new SafetensorsError(file, `tensors "${prev.name}" and "${cur.name}" overlap in the data section`);
  }
  return { tensors, metadata };
}

function readFully(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, Math.min(IO_CHUNK, target.length - done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** IEEE 754 half precision to float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function decode(bytes: Uint8Array, dtype: ReadableDtype, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    if (IS_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const out = new Float32Array(count);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    if (IS_LITTLE_ENDIAN) {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    } else {
      const scratch = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        scratch.setUint32(0, view.getUint16(2 * i, true) << 16);
        out[i] = scratch.getFloat32(0);
      }
    }
    return out;
  }
  const table = halfTable();
  for (let i = 0; i < count; i++) out[i] = table[view.getUint16(2 * i, true)]!;
  return out;
}

let HALF_TABLE: Float32Array | undefined;
/** All 65,536 half values, decoded once: a lookup is much faster than the arithmetic. */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/** An open safetensors file; read tensors one at a time, then `close()`. */
export class SafetensorsFile {
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    fd: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.fd = fd;
  }

  static open(file: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new SafetensorsError(file, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < 8)
        throw new SafetensorsError(file, `only ${size} bytes; a safetensors file starts with an 8-byte header length`);
      const lenBytes = new Uint8Array(8);
      readFully(fd, lenBytes, 0);
      const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
      if (n > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
        throw new SafetensorsError(
          file,
          `header length ${n} is larger than the file allows (${size} bytes); the file is damaged or not a safetensors file`,
        );
      }
      const headerBytes = new Uint8Array(Number(n));
      if (readFully(fd, headerBytes, 8) !== headerBytes.length)
        throw new SafetensorsError(file, 'the header is truncated');
      const { tensors, metadata } = parseHeader(file, headerBytes, size);
      return new SafetensorsFile(file, fd, tensors, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.file, `has no tensor "${name}"`);
    return t;
  }

  /** Read one tensor as float32. */
  read(name: string): Float32Array {
    if (this.fd === undefined) throw new SafetensorsError(this.file, `cannot read "${name}": the file was closed`);
    const t = this.info(name);
    if (!READABLE.has(t.dtype)) {
      throw new SafetensorsError(this.file, `tensor "${name}" is ${t.dtype}; only F32, F16 and BF16 can be read`);
    }
    const count = product(t.shape);
    // A fresh ArrayBuffer keeps the float32 view aligned.
    const bytes = new Uint8Array(t.end - t.begin);
    if (readFully(this.fd, bytes, t.begin) !== bytes.length)
      throw new SafetensorsError(this.file, `tensor "${name}" is truncated`);
    return decode(bytes, t.dtype as ReadableDtype, count);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Read every tensor of a (small) file. */
export function readSafetensors(file: string): {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
} {
  const f = SafetensorsFile.open(file);
  try {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const name of f.names()) tensors.set(name, { shape: f.info(name).shape, data: f.read(name) });
    return { tensors, metadata: { ...f.metadata } };
  } finally {
    f.close();
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.length - done));
}

/**
 * Write tensors as F32, keys sorted, atomically (temporary file in the same
 * folder, fsync, rename). Tensors whose `data` is a function are produced one
 * at a time while writing.
 */
export function writeSafetensors(
  file: string,
  tensors: ReadonlyMap<string, TensorToWrite> | Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): void {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)) as Array<
    [string, TensorToWrite]
  >;
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new SafetensorsError(file, '"__metadata__" cannot be a tensor name');
    const bytes = product(t.shape) * 4;
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces so that the data starts 8-byte aligned, as the reference implementation does.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const lengthBytes = Buffer.alloc(8);
  lengthBytes.writeBigUInt64LE(BigInt(json.length));

  writeFileAtomicWith(file, (fd) => {
    writeAll(fd, lengthBytes);
    writeAll(fd, json);
    for (const [name, t] of entries) {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      if (data.length !== product(t.shape)) {
        throw new SafetensorsError(
          file,
          `tensor "${name}" has ${data.length} values but shape [${t.shape.join(', ')}] needs ${product(t.shape)}`,
        );
      }
      writeAll(fd, float32Bytes(data));
    }
  });
}

function float32Bytes(data: Float32Array): Uint8Array {
  if (IS_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}
