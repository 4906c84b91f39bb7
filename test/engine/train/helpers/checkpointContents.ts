/** Checkpoint contents that are a function of the step, shared by the kill test and its child process. */
import type { OptimizerState } from '../../../../src/engine/train/optim/adamw';
import type { TrainerState } from '../../../../src/engine/train/checkpoint/trainerState';

/** Two parameters of `floats` / 2 values each; moment values encode the step (and a torn write shows as zeros). */
export function stateForStep(step: number, floats: number): OptimizerState {
  const half = Math.floor(floats / 2);
  const param = (offset: number) => {
    const expAvg = new Float32Array(half).fill(step + offset);
    const expAvgSq = new Float32Array(half).fill(2 * step + offset);
    // Distinct ends, so that swapped or shifted data would show.
    expAvg[0] = -step;
    expAvgSq[half - 1] = -2 * step;
    return { step, shape: [half], expAvg, expAvgSq };
  };
  return {
    params: new Map([
      ['encoder.weight', param(0.25)],
      ['encoder.bias', param(0.5)],
    ]),
  };
}

export function modelBytesForStep(step: number, floats: number): Uint8Array {
  const data = new Float32Array(floats).fill(step);
  return new Uint8Array(data.buffer);
}

export function trainerStateForStep(step: number): TrainerState {
  return {
    globalStep: step,
    epoch: Math.floor(step / 10),
    positionInEpoch: (step % 10) * 32,
    totalSteps: 1000,
    rngStates: { shuffle: step * 11, augment: 4294967295 - step },
    configHash: 'sha256:test',
    lossHistory: [{ step, loss: 1 / step, lr: 1e-4, gradNorm: 0.5 }],
    savedAt: new Date(0).toISOString(),
  };
}
