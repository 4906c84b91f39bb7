/**
 * The demo model before pretraining: a DINOv2-architecture encoder with
 * random weights, saved in the Hugging Face layout so that the trainer
 * loads it like any other model folder.
 */
import * as path from 'node:path';
import { imageProcessingJson, DINOV2_PROCESSING } from '../../src/engine/model/config';
import { saveFullModel } from '../../src/engine/model';
import { randomDinov2Encoder } from '../../src/engine/model/random';
import { writeJsonAtomic } from '../../src/shared/fs/atomic';

/** The config.json fields that differ from DINOv2-small's. */
export interface TinyArchitecture {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** Native input size: the position embeddings cover (image_size / 14)^2 patches. */
  image_size: number;
}

export interface InitialModel {
  dir: string;
  parameters: number;
}

/**
 * Save a randomly initialised model into `dir` (which must be empty or
 * absent). Its preprocessor crops to the native `image_size`, resizing the
 * shortest edge in DINOv2's proportion (256 for 224).
 */
export function saveInitialModel(arch: TinyArchitecture, seed: number, dir: string): InitialModel {
  const encoder = randomDinov2Encoder({ ...arch }, { seed });
  try {
    saveFullModel(encoder, dir);
    const ratio = DINOV2_PROCESSING.resizeShortestEdge / DINOV2_PROCESSING.imageSize;
    const processing = {
      ...DINOV2_PROCESSING,
      imageSize: arch.image_size,
      resizeShortestEdge: Math.round(arch.image_size * ratio),
    };
    writeJsonAtomic(path.join(dir, 'preprocessor_config.json'), imageProcessingJson(processing, null));
    let parameters = 0;
    for (const t of encoder.hfTensors().values()) parameters += t.shape.reduce((a, b) => a * b, 1);
    return { dir, parameters };
  } finally {
    encoder.dispose();
  }
}
