/**
 * The trainable state between the CLI and the torch engine's ranks, in vembed's names and layouts
 * (python/vembed_torch/state.py): `params.safetensors` (a tensor per trainable name) and `optimizer.safetensors`
 * (vembed's own optimizer file). The CLI writes the starting state from its encoder and AdamW (fresh or resumed),
 * and reads the ranks' state back into them before each checkpoint, so checkpoints and evaluations are written by
 * the same code as on the ONNX engine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../backend/tf';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../io/safetensors';
import type { Dinov2ImageEncoder } from '../model';
import { readOptimizerState, writeOptimizerState } from '../train/checkpoint/optimizerFile';
import type { AdamW } from '../train';

export const PARAMS_FILE = 'params.safetensors';
export const STATE_OPTIMIZER_FILE = 'optimizer.safetensors';

export function writeStartState(dir: string, encoder: Dinov2ImageEncoder, optimizer: AdamW): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, v] of encoder.trainableVariables())
    tensors.set(name, { shape: [...v.shape], data: () => v.dataSync() as Float32Array });
  writeSafetensors(path.join(dir, PARAMS_FILE), tensors, { format: 'pt' });
  const state = optimizer.exportState();
  const file = path.join(dir, STATE_OPTIMIZER_FILE);
  if (state.params.size > 0) writeOptimizerState(file, state);
  else fs.rmSync(file, { force: true });
}

/** Loads the ranks' exported state into the encoder's variables and the optimizer. */
export function readRankState(dir: string, encoder: Dinov2ImageEncoder, optimizer: AdamW): void {
  const { tensors } = readSafetensors(path.join(dir, PARAMS_FILE));
  const vars = encoder.trainableVariables();
  for (const [name, v] of vars) {
    const t = tensors.get(name);
    if (!t) throw new Error(`the torch engine's state lacks ${name}`);
    if (t.shape.join() !== v.shape.join())
      throw new Error(`the torch engine's ${name} is [${t.shape}], the model's [${v.shape}]`);
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, 'float32')));
  }
  optimizer.importState(readOptimizerState(path.join(dir, STATE_OPTIMIZER_FILE)));
}
