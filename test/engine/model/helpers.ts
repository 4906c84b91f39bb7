/** Shared by the model tests: backend set-up, fixtures, comparisons. */
// Gradients are registered by the union package only; these tests differentiate.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor, type Tensor4D } from '../../../src/engine/backend/tf';
import { readSafetensors } from '../../../src/engine/io/safetensors';

export const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'dinov2');
export const VARIANTS = ['plain', 'swiglu', 'registers'] as const;

export async function useWasm(): Promise<void> {
  await activateBackend('wasm');
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vembed-${tag}-`));
}

/** The fixture images: name -> [n, H, W, 3]. */
export function fixtureInputs(): Map<string, { shape: number[]; data: Float32Array }> {
  return readSafetensors(path.join(FIXTURES, 'inputs.safetensors')).tensors;
}

export function expectedOutputs(variant: string): Map<string, { shape: number[]; data: Float32Array }> {
  return readSafetensors(path.join(FIXTURES, variant, 'expected.safetensors')).tensors;
}

export function pixels(input: { shape: number[]; data: Float32Array }): Tensor4D {
  return tf.tensor4d(input.data, input.shape as [number, number, number, number]);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Read a tensor's values and dispose it (host values, a trainer's gradients, as they are). */
export function take(t: Tensor | Float32Array): Float32Array {
  if (t instanceof Float32Array) return t;
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}
