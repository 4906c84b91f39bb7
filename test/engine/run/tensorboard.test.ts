// TensorBoard event files: CRC-32C against published vectors, and the files read back by the
// `tensorboard` package's own reader (EventAccumulator), from a unit write and from real training runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32c, maskedCrc32c } from '../../../src/engine/util/crc32c';
import { TfEventFile, scalarsEvent } from '../../../src/engine/report/tfEvents';
import type { EngineEvent } from '../../../src/shared/protocol';
import { engineEvents } from '../engineEvents';
import { runPython } from '../../helpers/python';
import { SharedRunData, tempDir } from './fixtures';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');

test('CRC-32C equals the published check values (RFC 3720 B.4, the CRC catalogue)', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(crc32c(enc('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  // The mask: rotate right by 15, add 0xa282ead8 (mod 2^32), as TFRecord writes it.
  const c = crc32c(enc('123456789'));
  assert.equal(maskedCrc32c(enc('123456789')), ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32);
});

/** Every scalar in the event files under `dir`, as TensorBoard's EventAccumulator reads them. */
function readScalars(dir: string): Record<string, Array<[number, number]>> {
  const code = [
    'import json, sys',
    'from tensorboard.backend.event_processing.event_accumulator import EventAccumulator',
    'acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})',
    'acc.Reload()',
    'print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))',
  ].join('\n');
  return JSON.parse(runPython(['-c', code, dir])) as Record<string, Array<[number, number]>>;
}

test('an event file written here reads back in TensorBoard with its tags, steps and values', () => {
  const dir = tempDir('tb-unit');
  try {
    const f = new TfEventFile(dir);
    f.append(
      scalarsEvent(1000.5, 1, [
        { tag: 'train/loss', value: 2.5 },
        { tag: 'train/learning_rate', value: 1e-4 },
      ]),
    );
    f.append(scalarsEvent(1001.5, 2, [{ tag: 'train/loss', value: -0.125 }]));
    f.append(scalarsEvent(1002, 2 ** 40, [{ tag: 'eval/recall@1', value: 0.75 }]));
    f.close();
    assert.match(path.basename(f.file), /^events\.out\.tfevents\.\d+\./);
    const s = readScalars(dir);
    assert.deepEqual(s['train/loss'], [
      [1, 2.5],
      [2, -0.125],
    ]);
    assert.equal(s['train/learning_rate']![0]![0], 1);
    assert.ok(Math.abs(s['train/learning_rate']![0]![1] - 1e-4) < 1e-11, 'float32 of 1e-4');
    assert.deepEqual(s['eval/recall@1'], [[2 ** 40, 0.75]], 'a step beyond 32 bits');
    // TensorBoard checks the CRCs: with one bit of the last record's data CRC flipped, that record is dropped.
    // (So the reads above also confirm every CRC written.)
    const bytes = fs.readFileSync(f.file);
    bytes[bytes.length - 1]! ^= 1;
    fs.writeFileSync(f.file, bytes);
    assert.equal(readScalars(dir)['eval/recall@1'], undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

let shared: SharedRunData;
before(async () => {
  shared = await SharedRunData.create('tensorboard');
});
after(() => shared?.remove());

function train(dir: string, args: string[]): EngineEvent[] {
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 240000,
  });
  assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000));
  return engineEvents(r.stdout);
}

const f32 = (x: number) => Math.fround(x);

test('a training run writes what events.jsonl holds; a resumed run appends a second file', () => {
  const { dir } = shared.runDir('run');
  const first = train(dir, []);
  const out = path.join(dir, 'out');
  const files = () => fs.readdirSync(out).filter((n) => n.startsWith('events.out.tfevents.'));
  assert.equal(files().length, 1);
  const resumed = train(dir, ['--resume', 'latest', '--set', 'epochs=3']);
  assert.equal(files().length, 2, 'the resumed run writes a file of its own');

  const all = [...first, ...resumed];
  const s = readScalars(out);
  const steps = all.filter((e): e is Extract<EngineEvent, { type: 'step' }> => e.type === 'step');
  assert.deepEqual(
    steps.map((e) => e.step),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.deepEqual(
    s['train/loss'],
    steps.map((e) => [e.step, f32(e.loss)]),
  );
  assert.deepEqual(
    s['train/learning_rate'],
    steps.map((e) => [e.step, f32(e.lr)]),
  );
  const epochs = all.filter((e): e is Extract<EngineEvent, { type: 'epoch' }> => e.type === 'epoch');
  assert.deepEqual(
    s['train/epoch_mean_loss'],
    epochs.map((e) => [e.step, f32(e.meanLoss)]),
  );
  assert.equal(epochs.length, 3);
  // Evaluations: before training (step 0) and after each epoch, every metric.
  const evals = all.filter((e): e is Extract<EngineEvent, { type: 'evaluation' }> => e.type === 'evaluation');
  assert.deepEqual(
    evals.map((e) => e.step),
    [0, 3, 6, 9],
  );
  for (const k of ['recall@1', 'recall@10', 'map@r'])
    assert.deepEqual(
      s[`eval/${k}`],
      evals.map((e) => [e.step, f32(e.metrics[k]!)]),
      k,
    );
  // --overwrite clears the old event files with the rest of the run.
  train(dir, ['--overwrite']);
  assert.equal(files().length, 1);
});
