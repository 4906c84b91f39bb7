/**
 * The values of a float32 tensor for a read-only pass in JavaScript.
 *
 * On the wasm backend this is a view on the tensor's memory in the wasm heap
 * instead of `dataSync()`'s copy: the all-pairs search reads hundreds of
 * 16 MB blocks, and copying them costs a copy plus the garbage collection of
 * gigabytes. The view relies on tfjs-backend-wasm internals (`dataIdMap`,
 * `wasm.HEAPU8`, checked at run time, with `dataSync()` as the fallback), and
 * is valid only until the next tf call (which may grow and move the heap) and
 * the tensor's disposal: `use` must not run tf ops.
 */
import { tf, type Tensor } from '../backend/tf';

interface WasmBackendInternals {
  dataIdMap?: { get(dataId: object): { memoryOffset?: number | null } | undefined };
  wasm?: { HEAPU8?: Uint8Array };
}

export function withTensorValues<T>(tensor: Tensor, use: (values: Float32Array) => T): T {
  if (tensor.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${tensor.dtype}`);
  return use(heapView(tensor) ?? (tensor.dataSync() as Float32Array));
}

function heapView(tensor: Tensor): Float32Array | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as WasmBackendInternals;
  const heap = backend.wasm?.HEAPU8;
  const offset = backend.dataIdMap?.get(tensor.dataId)?.memoryOffset;
  if (!heap || typeof offset !== 'number' || offset % 4 !== 0 || offset + tensor.size * 4 > heap.byteLength)
    return undefined;
  return new Float32Array(heap.buffer, heap.byteOffset + offset, tensor.size);
}
