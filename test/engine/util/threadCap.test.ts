// The one thread rule (src/engine/util/threadCap.ts) on machines of several sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_MODEL_COPIES, poolThreadLimit, poolThreads, threadCapNote } from '../../../src/engine/util/threadCap';

test('every pool stops at two threads per core; WebAssembly also at MAX_MODEL_COPIES copies of the model', () => {
  for (const cores of [1, 2, 8, 64]) {
    for (const pool of ['ranking', 'decoding', 'onnx'] as const) {
      assert.equal(poolThreadLimit(pool, cores), 2 * cores);
      assert.equal(poolThreads(pool, 999, cores), 2 * cores);
      assert.equal(poolThreads(pool, 1, cores), 1);
    }
    assert.equal(poolThreadLimit('wasm', cores), Math.min(2 * cores, MAX_MODEL_COPIES));
  }
  assert.equal(poolThreads('decoding', 0, 4), 0, 'no workers stays no workers');
});

test('the note names what was asked, what starts per pool, and why; nothing when nothing is lowered', () => {
  assert.equal(threadCapNote('--threads', 4, ['ranking', 'onnx', 'wasm'], 2), undefined);
  assert.equal(
    threadCapNote('--threads', 999, ['ranking', 'onnx', 'wasm'], 2),
    '--threads 999: starting 4 ranking / 4 ONNX Runtime / 4 WebAssembly threads: at most 2 per core on this machine (2 cores); more would only wait for a core and add memory.',
  );
  assert.match(
    threadCapNote('--threads', 12, ['ranking', 'onnx', 'wasm'], 8)!,
    /^--threads 12: starting 8 WebAssembly threads: .*\(8 cores\) \(WebAssembly: at most 8 copies of the model\)/,
  );
  assert.match(threadCapNote('num_workers', 64, ['decoding'], 1)!, /^num_workers 64: starting 2 decoding threads/);
});
