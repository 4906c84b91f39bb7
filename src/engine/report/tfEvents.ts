/**
 * TensorBoard event files, written without TensorFlow: a file of TFRecords
 * (each: the data's length as uint64 LE, the masked CRC-32C of those 8 bytes,
 * the data, the masked CRC-32C of the data), each record one `Event`
 * protobuf. The first event holds `file_version: "brain.Event:2"`; the others
 * a `Summary` of scalar values (`simple_value`), which TensorBoard's scalar
 * dashboard plots. Field numbers from tensorflow/core/util/event.proto and
 * tensorflow/core/framework/summary.proto.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { maskedCrc32c } from '../util/crc32c';
import { ProtoMessage } from '../util/protobuf';

const EVENT = { wallTime: 1, step: 2, fileVersion: 3, summary: 5 } as const;
const SUMMARY = { value: 1 } as const;
const SUMMARY_VALUE = { tag: 1, simpleValue: 2 } as const;

export const FILE_VERSION = 'brain.Event:2';

export interface Scalar {
  tag: string;
  value: number;
}

/** One TFRecord around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.byteLength + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.byteLength), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.byteLength, maskedCrc32c(data), true);
  return out;
}

export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoMessage().double(EVENT.wallTime, wallTime).string(EVENT.fileVersion, FILE_VERSION).toBytes();
}

export function scalarsEvent(wallTime: number, step: number, scalars: readonly Scalar[]): Uint8Array {
  const summary = new ProtoMessage();
  for (const s of scalars)
    summary.message(
      SUMMARY.value,
      new ProtoMessage().string(SUMMARY_VALUE.tag, s.tag).float(SUMMARY_VALUE.simpleValue, s.value),
    );
  return new ProtoMessage()
    .double(EVENT.wallTime, wallTime)
    .int(EVENT.step, step)
    .message(EVENT.summary, summary)
    .toBytes();
}

/**
 * An event file in `dir`, named as TensorFlow names them
 * (`events.out.tfevents.<seconds>.<host>.<pid>.<n>`; TensorBoard reads every
 * file with `tfevents` in its name, in name order). Each write is one
 * system call, so a live TensorBoard sees every record as soon as it is
 * written and a killed run leaves whole records only.
 */
export class TfEventFile {
  private static opened = 0;
  readonly file: string;
  private fd: number | undefined;

  constructor(dir: string, now: Date = new Date()) {
    fs.mkdirSync(dir, { recursive: true });
    const seconds = Math.floor(now.getTime() / 1000);
    this.file = path.join(
      dir,
      `events.out.tfevents.${seconds}.${os.hostname()}.${process.pid}.${TfEventFile.opened++}`,
    );
    // 'wx': a new file every time; a resumed run never rewrites an earlier run's records.
    this.fd = fs.openSync(this.file, 'wx');
    this.append(fileVersionEvent(now.getTime() / 1000));
  }

  append(event: Uint8Array): void {
    if (this.fd === undefined) return;
    fs.writeSync(this.fd, tfRecord(event));
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
