/**
 * A minimal protocol-buffers writer: just the wire types an ONNX ModelProto
 * and a TensorBoard Event need (varints, length-delimited bytes, strings,
 * nested messages, packed int64s, 32- and 64-bit floats).
 *
 * Why our own instead of a protobuf package: writing is all we need (never
 * parsing), the messages are few and fixed (onnx/graph.ts,
 * report/tfEvents.ts), and no
 * dependency means nothing more to bundle or ship in the .vsix. Nested
 * messages keep their parts as a list of chunks, so multi-megabyte weight
 * buffers are copied once, when the model is joined into one buffer.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;

export class ProtoMessage {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  /** Encoded size in bytes. */
  get byteLength(): number {
    return this.length;
  }

  private push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.byteLength;
  }

  private tag(field: number, wire: number): void {
    this.push(varint(BigInt(field * 8 + wire)));
  }

  /** int32/int64/enum/bool field. Negative values take ten bytes (two's complement), as protobuf encodes int64. */
  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.push(varint(BigInt.asUintN(64, BigInt(value))));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_BYTES);
    this.push(varint(BigInt(value.byteLength)));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** A repeated int64 field, packed (one length-delimited run of varints). */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const encoded = values.map((v) => varint(BigInt.asUintN(64, BigInt(v))));
    const size = encoded.reduce((s, e) => s + e.byteLength, 0);
    this.tag(field, WIRE_BYTES);
    this.push(varint(BigInt(size)));
    for (const e of encoded) this.push(e);
    return this;
  }

  message(field: number, child: ProtoMessage): this {
    this.tag(field, WIRE_BYTES);
    this.push(varint(BigInt(child.length)));
    for (const p of child.parts) this.push(p);
    return this;
  }

  /** The encoded message as one buffer. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }

  /** The encoded chunks in order (for writing to a file without joining them). */
  chunks(): readonly Uint8Array[] {
    return this.parts;
  }
}

/** Base-128 varint of an unsigned 64-bit value. */
function varint(value: bigint): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    bytes.push(b);
  } while (v !== 0n);
  return Uint8Array.from(bytes);
}
