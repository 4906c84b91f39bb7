/**
 * A child process for the kill test: writes checkpoints until the parent
 * SIGKILLs it. Arguments: <mode> <outputDir> <firstStep>.
 * - `loop`: checkpoint-step-N for N = firstStep, firstStep + 1, ... forever,
 *   each with an 8 MB model file and 16 MB of optimizer state, printing
 *   "saved N" after each.
 * - `stall`: one small complete checkpoint-step-<firstStep>, "saved N",
 *   then checkpoint-step-<firstStep + 1> whose model file stops half-way:
 *   prints "stalled" and waits to be killed.
 * Contents are a function of the step, so the parent can check them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { saveCheckpoint, checkpointName } from '../../../../src/engine/train/checkpoint/checkpoint';
import { stateForStep, modelBytesForStep, trainerStateForStep } from './checkpointContents';

const [mode, outputDir, first] = process.argv.slice(2);
const say = (line: string) => fs.writeSync(1, line + '\n');

function writeModel(step: number, floats: number, stall: boolean) {
  return (dir: string): void => {
    const fd = fs.openSync(path.join(dir, 'model.safetensors'), 'w');
    const bytes = modelBytesForStep(step, floats);
    const half = Math.floor(bytes.length / 2);
    fs.writeSync(fd, bytes, 0, stall ? half : bytes.length);
    if (stall) {
      say('stalled');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    }
    fs.closeSync(fd);
  };
}

let step = Number(first);
if (mode === 'stall') {
  saveCheckpoint(outputDir!, checkpointName('step', step), {
    trainerState: trainerStateForStep(step),
    optimizerState: stateForStep(step, 1000),
    writeModel: writeModel(step, 1000, false),
  });
  say(`saved ${step}`);
  step++;
  saveCheckpoint(outputDir!, checkpointName('step', step), {
    trainerState: trainerStateForStep(step),
    optimizerState: stateForStep(step, 2_000_000),
    writeModel: writeModel(step, 2_000_000, true),
  });
} else {
  for (; ; step++) {
    saveCheckpoint(outputDir!, checkpointName('step', step), {
      trainerState: trainerStateForStep(step),
      optimizerState: stateForStep(step, 2_000_000),
      writeModel: writeModel(step, 2_000_000, false),
    });
    say(`saved ${step}`);
  }
}
