/**
 * How large an input `vembed export onnx --size` can ask for on this machine.
 * The position embeddings are resized to the input's grid of patches when
 * the file is written, so the table grows with the square of --size and is
 * held several times over (resized on TF.js, read back, stored as an
 * initializer, serialized, written): `--size 100002` asked for ~78 GB of
 * table and was OOM-killed with no message. The bound is checked before the
 * graph is built, against the machine's memory or the cgroup's limit.
 */
import * as os from 'node:os';
import type { Dinov2ImageEncoder } from '../model/encoder';
import { UserError } from '../../shared/userError';

/** Copies of the position table alive at the peak (measured: --size 14000, a 128 MB table, peaked at 750 MB RSS). */
const TABLE_COPIES = 5;
/** Copies of the other weights (TF.js, the graph's initializers, the serialized model). */
const WEIGHT_COPIES = 3;
/** The engine itself (Node, TF.js, ONNX Runtime loaded). */
const BASELINE_BYTES = 256 * 2 ** 20;

/** Memory this process may use: the machine's, or its cgroup's limit when lower. */
export function memoryLimit(): { bytes: number; source: string } {
  const total = os.totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total
    ? { bytes: constrained, source: "this process's cgroup memory limit" }
    : { bytes: total, source: "this machine's memory" };
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

function weightBytes(encoder: Dinov2ImageEncoder): number {
  let n = 0;
  for (const v of [...encoder.baseVariables().values(), ...encoder.trainableVariables().values()]) n += v.size;
  return 4 * n;
}

/** Bytes the export needs at `px` pixels. */
function bytesFor(px: number, patch: number, hidden: number, weights: number): number {
  const tokens = (px / patch) ** 2 + 1;
  return BASELINE_BYTES + WEIGHT_COPIES * weights + TABLE_COPIES * 4 * hidden * tokens;
}

/** Throws a UserError saying why and what --size fits when exporting at `px` would not fit in memory. */
export function checkExportSize(
  encoder: Dinov2ImageEncoder,
  px: number,
  limit: { bytes: number; source: string } = memoryLimit(),
): void {
  const patch = encoder.config.patchSize;
  const hidden = encoder.config.hiddenSize;
  const weights = weightBytes(encoder);
  const need = bytesFor(px, patch, hidden, weights);
  if (need <= limit.bytes) return;
  const tableBytes = 4 * hidden * ((px / patch) ** 2 + 1);
  const spare = limit.bytes - BASELINE_BYTES - WEIGHT_COPIES * weights;
  const side = spare > 0 ? Math.floor(Math.sqrt(Math.max(0, spare / (TABLE_COPIES * 4 * hidden) - 1))) : 0;
  const grid = Math.round(px / patch);
  throw new UserError(
    `--size ${px} needs about ${gb(need)} of memory to export: a ${grid} x ${grid} grid of ${patch}-pixel patches makes the position table alone ${gb(tableBytes)} (${hidden} values a patch), held about ${TABLE_COPIES} times while it is resized and written; ${limit.source} is ${gb(limit.bytes)}`,
    side >= 1
      ? `Use --size ${side * patch} or less here (the model was trained at ${encoder.processing.imageSize}).`
      : 'This model does not fit in memory here at any size; export it on a machine with more memory.',
    'export-size',
  );
}
