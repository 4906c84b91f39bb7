/**
 * The torch engine's per-epoch evaluation embeds on the ranks' device (issue 26): the CLI decodes the validation
 * images as always, the ranks embed them in eval mode (two processes, each a share of every batch) and the CLI
 * scores them. What it reports equals embedding the epoch's checkpoint with `vembed embed` (ONNX Runtime) and
 * scoring that with the same protocol: the embeddings within 1e-4, Recall@K and MAP@R identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy, toInt32 } from '../../../src/shared/artifacts/npy';
import { LATEST_EVAL_DIR } from '../../../src/shared/runs/runFolder';
import { evaluateRetrieval } from '../../../src/engine/retrieval/evaluate';
import { TRAINING_RECALL_KS } from '../../../src/engine/run/evaluation';
import { compareEmbeddings, vembed } from '../../interop/helpers';
import { assertOk, runFolder, train, useTinyTorchWork } from './torchRuns';

const tiny = useTinyTorchWork('torch-eval');

/** The validation file's distinct images in first-occurrence order (the evaluation's order). */
function validationImages(dir: string): string[] {
  const seen = new Set<string>();
  for (const line of fs
    .readFileSync(path.join(dir, 'data', 'val.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)) {
    const r = JSON.parse(line) as { query_image: string; positive: string };
    for (const p of [r.query_image, r.positive]) seen.add(path.join(dir, 'data', p));
  }
  return [...seen];
}

test("a torch run's evaluation embeds on its ranks and equals vembed embed of the checkpoint, scored the same", async () => {
  // LoRA dropout on (eval mode must switch it off); batches of 5 split 3 + 2 over the two processes.
  const dir = runFolder(tiny.work, 'run', tiny.model, {
    epochs: 1,
    learning_rate: 0.01,
    warmup_steps: 0,
    lora_dropout: 0.3,
    eval_batch_size: 5,
  });
  const r = train(dir, tiny.python, ['--engine', 'torch', '--num_processes', '2']);
  assertOk(r, 'the torch run');
  const said = r.events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
  assert.ok(
    said.some((m) => /^evaluation embeds on the torch engine: PyTorch .*CPU.*2 processes, float32/.test(m)),
    `the run names the torch device for its evaluation: ${JSON.stringify(said)}`,
  );
  const evaluations = r.events.filter((e) => e.type === 'evaluation');
  assert.deepEqual(
    evaluations.map((e) => (e.type === 'evaluation' ? e.epoch : -1)),
    [0, 1],
  );

  const images = validationImages(dir);
  const ours = path.join(dir, 'onnx.npy');
  vembed(['embed', '--model', path.join(dir, 'out', 'checkpoint-epoch-1'), '--out', ours, ...images], dir);
  const latest = path.join(dir, 'out', LATEST_EVAL_DIR);
  const { maxAbs } = compareEmbeddings(path.join(latest, 'embeddings.npy'), ours);
  assert.ok(maxAbs <= 1e-4, `torch evaluation vs vembed embed: max |diff| ${maxAbs}`);

  const onnx = readNpy(ours);
  const labels = toInt32(readNpy(path.join(latest, 'labels.npy')));
  const expected = await evaluateRetrieval(
    { data: onnx.data as Float32Array, n: onnx.shape[0]!, d: onnx.shape[1]! },
    labels,
    { recallKs: TRAINING_RECALL_KS },
  );
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'eval-epoch-1.json'), 'utf8')) as Record<
    string,
    number
  >;
  assert.ok(Object.keys(expected.metrics).length >= 4);
  for (const [key, value] of Object.entries(expected.metrics))
    assert.equal(report[key], value, `${key}: the torch run's ${report[key]}, vembed embed's ${value}`);
  if (process.env.VEMBED_TORCH_VERBOSE) console.log(`run ${r.seconds}s; max |diff| ${maxAbs}`, report);
});
