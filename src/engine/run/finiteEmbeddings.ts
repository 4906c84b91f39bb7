/**
 * Refusing NaN or infinite embeddings: they would be written to .npy files
 * and indexes and rank every image at random, with exit code 0. The error
 * names the model and, where it can, the weights that hold the bad values.
 */
import type { Dinov2ImageEncoder } from '../model/encoder';
import { UserError } from '../../shared/userError';

/** Names of the encoder's weights (base, LoRA, head) that hold a NaN or an infinity. */
export function nonFiniteWeights(encoder: Dinov2ImageEncoder): string[] {
  const bad: string[] = [];
  const all = new Map([...encoder.baseVariables(), ...encoder.trainableVariables()]);
  for (const [name, v] of all) {
    const data = v.dataSync() as Float32Array;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) {
        bad.push(name);
        break;
      }
    }
  }
  return bad;
}

/** Throws a UserError when any of the [N, D] embeddings of `paths` is not finite. */
export function assertFiniteEmbeddings(
  data: Float32Array,
  paths: readonly string[],
  encoder: Dinov2ImageEncoder,
  model: string,
): void {
  const d = encoder.embeddingDim;
  const badRows: number[] = [];
  for (let row = 0; row < paths.length; row++) {
    for (let j = row * d; j < (row + 1) * d; j++) {
      if (!Number.isFinite(data[j]!)) {
        badRows.push(row);
        break;
      }
    }
  }
  if (badRows.length === 0) return;
  const weights = nonFiniteWeights(encoder);
  const cause =
    weights.length > 0
      ? `its weights hold NaN or infinite values (${weights.length} tensor(s), e.g. ${weights.slice(0, 3).join(', ')})`
      : 'its weights are finite, so the values overflow inside the model';
  throw new UserError(
    `the model ${model} gave NaN or infinite embeddings for ${badRows.length} of ${paths.length} image(s) (e.g. ${paths[badRows[0]!]}): ${cause}. Nothing was written.`,
    weights.length > 0
      ? 'Use another checkpoint (a training run that diverged saves none after the loss turned non-finite), or re-export the weights.'
      : 'Check the model with `vembed embed` on a few images; a lower image_size or another checkpoint may help.',
    'non-finite-embeddings',
  );
}
