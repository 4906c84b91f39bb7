/**
 * Whether a training run computes its gradients on ONNX Runtime: when the
 * run's backend choice is ONNX (explicitly, or `auto` where onnxruntime-node
 * loads) and the model is a DINOv2 encoder. An explicit choice that cannot
 * build or load the training graphs is an error; `auto` falls back to the
 * TF.js gradient cache with a note.
 */
import { Dinov2ImageEncoder } from '../model/encoder';
import type { ImageEncoder } from '../model/types';
import type { OnnxChoice } from './backendChoice';
import { OnnxGradients, type OnnxTrainerOptions } from './trainer';

export async function startOnnxTraining(
  encoder: ImageEncoder,
  choice: OnnxChoice | null | undefined,
  onNote: (message: string) => void,
  /** Images of the largest chunk a step computes at once (picks the backward graphs; OnnxTrainerOptions). */
  chunkSize?: number,
  /** The run's batch and loss (OnnxTrainerOptions.batch: the one-run step's graph is built now where it applies). */
  batch?: OnnxTrainerOptions['batch'],
): Promise<OnnxGradients | null> {
  if (!choice) return null;
  if (!(encoder instanceof Dinov2ImageEncoder)) {
    if (choice.explicit) throw new Error(`--backend ${choice.name}: ONNX Runtime trains DINOv2 encoders only`);
    return null;
  }
  try {
    return await OnnxGradients.create(encoder, { device: choice.device, threads: choice.threads, chunkSize, batch });
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    if (choice.explicit)
      throw new Error(`--backend ${choice.name}: the training graphs do not run: ${why}`, { cause: e });
    onNote(`ONNX Runtime could not run the training graphs (${why}); training on TF.js`);
    return null;
  }
}
