/**
 * Putting an exported model in place. With external data the model is two
 * files, and two renames cannot be one atomic step: renamed one after the
 * other under fixed names, a failure between them left the old model.onnx
 * beside the new data file, which ONNX Runtime could no longer load. So the
 * data file gets a new name per export (`NAME.onnx.<8 hex>.data`, the name
 * the new .onnx records), is renamed first (replacing nothing), and the .onnx
 * is renamed over the old one last: readers see the old pair or the new one.
 * Earlier data files of NAME.onnx are removed only after that. Any failure or
 * a stop removes whatever this export wrote.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stageChunks, type StagedFile } from '../../shared/fs/atomic';
import { checkOutputFile, removeStaleTempsIn } from '../../shared/fs/outputPath';
import type { WrittenModel } from './graph';

/** A data file name for one export of `onnxFile`, new each time. */
export function newDataFileName(onnxFile: string): string {
  return `${path.basename(onnxFile)}.${crypto.randomBytes(4).toString('hex')}.data`;
}

/** Data files an export of `onnxFile` writes or wrote: `NAME.onnx.data` (earlier vembed) and `NAME.onnx.<id>.data`. */
function isDataFileOf(onnxFile: string, name: string): boolean {
  const base = path.basename(onnxFile);
  if (!name.startsWith(base + '.') || !name.endsWith('.data')) return false;
  const middle = name.slice(base.length + 1, -'.data'.length);
  return middle === '' || /^[0-9a-f]{8}$/.test(middle);
}

function earlierDataFiles(onnxFile: string, keep: string | undefined): string[] {
  const dir = path.dirname(onnxFile);
  return fs
    .readdirSync(dir)
    .filter((name) => name !== keep && isDataFileOf(onnxFile, name))
    .map((name) => path.join(dir, name));
}

/**
 * Write `written` as `out` (and its data file `dataName`, when it has data) and put it in place as described above.
 * Throws, having removed everything it wrote, on a failure or when `signal` is aborted.
 */
export async function writeExportedModel(
  out: string,
  written: WrittenModel,
  dataName: string | undefined,
  signal: AbortSignal,
): Promise<void> {
  const dataFile = dataName ? path.join(path.dirname(out), dataName) : undefined;
  if (dataFile) checkOutputFile(dataFile);
  // Data files have a new name each export: their temporaries left by a killed export are found by pattern.
  removeStaleTempsIn(path.dirname(out), (name) => isDataFileOf(out, name));
  let data: StagedFile | undefined;
  let model: StagedFile | undefined;
  let dataInPlace = false;
  try {
    if (dataFile && written.data.length > 0) data = await stageChunks(dataFile, written.data, signal);
    model = await stageChunks(out, written.model.chunks(), signal);
    signal.throwIfAborted();
    if (data) {
      data.commit();
      dataInPlace = true;
    }
    model.commit();
  } catch (e) {
    data?.discard();
    model?.discard();
    if (dataInPlace && dataFile) fs.rmSync(dataFile, { force: true });
    throw e;
  }
  for (const file of earlierDataFiles(out, dataName)) fs.rmSync(file, { force: true });
}
