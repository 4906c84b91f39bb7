/**
 * The torch engine against the ONNX engine (issue 26): with float32, dropout off, the same starting weights and
 * batches, the losses of the first steps and the weights after them agree within 1e-4 relative (per tensor:
 * max |torch - onnx| / max |onnx|), for LoRA and full fine-tuning, gradient cache on and off, plain, SwiGLU and
 * register models. Both are real `vembed train` processes on the same folder layout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { referencePython } from '../../helpers/python';
import { tempDir, writePairData, writeTinyModel } from '../run/fixtures';
import { assertOk, FIXTURES, runFolder, stepLosses, train, weightsOf, worstRelativeDifference } from './torchRuns';

const TOLERANCE = 1e-4;
let work: string;
let python: string;

before(async () => {
  python = referencePython();
  work = tempDir('torch-exact');
  await writeTinyModel(path.join(work, 'tiny'));
  fs.mkdirSync(path.join(work, 'data'));
  await writePairData(path.join(work, 'data'));
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

// One epoch of 3 steps of 8 pairs, no evaluation; a learning rate high enough that the weights move visibly.
const BASE = { epochs: 1, val_data_path: null, lora_dropout: 0, learning_rate: 0.01, warmup_steps: 1 };

const cases: Array<{ name: string; model: () => string; extra: Record<string, unknown> }> = [
  { name: 'plain, LoRA, gradient cache on', model: () => path.join(work, 'tiny'), extra: {} },
  {
    name: 'plain, full, gradient cache off',
    model: () => path.join(work, 'tiny'),
    extra: { use_lora: false, use_gradient_cache: false, learning_rate: 0.001 },
  },
  {
    name: 'SwiGLU, full, gradient cache on, weight decay and clipping',
    model: () => path.join(FIXTURES, 'swiglu'),
    extra: { use_lora: false, image_size: 56, learning_rate: 0.001, weight_decay: 0.05, max_grad_norm: 0.5 },
  },
  {
    name: 'registers, LoRA with a projection head, mean pooling, gradient cache off',
    model: () => path.join(FIXTURES, 'registers'),
    extra: { image_size: 56, use_gradient_cache: false, projection_dim: 16, pooling_method: 'mean' },
  },
];

describe('the torch engine equals the ONNX engine (1 process, float32, dropout off)', () => {
  for (const c of cases) {
    test(c.name, () => {
      const tag = c.name.replace(/[^a-z]+/gi, '-');
      const onnxDir = runFolder(work, `${tag}onnx`, c.model(), { ...BASE, ...c.extra });
      const torchDir = runFolder(work, `${tag}torch`, c.model(), { ...BASE, ...c.extra });
      const onnx = train(onnxDir, python, ['--backend', 'onnx']);
      assertOk(onnx, 'the ONNX engine');
      const torch = train(torchDir, python, ['--engine', 'torch']);
      assertOk(torch, 'the torch engine');
      const started = torch.events.find((e) => e.type === 'run_started');
      assert.ok(started && started.type === 'run_started' && started.backend === 'torch', 'run_started names torch');
      const a = stepLosses(onnx.events);
      const b = stepLosses(torch.events);
      assert.equal(b.size, 3);
      for (const [step, loss] of a) {
        const other = b.get(step)!;
        assert.ok(Math.abs(other - loss) <= TOLERANCE * Math.abs(loss), `step ${step}: torch ${other}, onnx ${loss}`);
      }
      const ckpt = (d: string) => path.join(d, 'out', 'checkpoint-epoch-1');
      const { worst, tensor } = worstRelativeDifference(weightsOf(ckpt(torchDir)), weightsOf(ckpt(onnxDir)));
      if (process.env.VEMBED_TORCH_VERBOSE)
        console.log(`${c.name}: worst relative weight difference ${worst} (${tensor}); torch ${torch.seconds}s`);
      assert.ok(worst <= TOLERANCE, `${tensor}: relative difference ${worst}`);
      // The optimizer state a resume reads: the same moments.
      const moments = worstRelativeDifference(
        path.join(ckpt(torchDir), 'optimizer.safetensors'),
        path.join(ckpt(onnxDir), 'optimizer.safetensors'),
      );
      assert.ok(moments.worst <= 1e-3, `optimizer ${moments.tensor}: relative difference ${moments.worst}`);
    });
  }
});
