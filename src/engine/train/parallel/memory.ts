/** Size of this thread's wasm heap: it grows on demand and never shrinks, so it is the thread's peak. 0 off wasm. */
import { tf } from '../../backend/tf';

export function wasmHeapBytes(): number {
  if (tf.getBackend() !== 'wasm') return 0;
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return backend.wasm?.HEAPU8?.buffer.byteLength ?? 0;
}
