import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CUDA_LIBRARIES, missingCudaLibraries } from '../../src/engine/backend/cuda';

test('doctor names exactly the CUDA 11 / cuDNN 8 libraries it cannot find', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-cuda-'));
  try {
    // This machine has no CUDA: with none of the libraries on LD_LIBRARY_PATH, all are missing
    // (unless the ld.so cache has them, as on a GPU machine).
    const none = missingCudaLibraries({ LD_LIBRARY_PATH: dir });
    for (const lib of none) assert.ok(CUDA_LIBRARIES.includes(lib));
    const present = ['libcudart.so.11.0', 'libcudnn.so.8'];
    for (const lib of present) fs.writeFileSync(path.join(dir, lib), '');
    const some = missingCudaLibraries({ LD_LIBRARY_PATH: `/nonexistent:${dir}` });
    assert.deepEqual(some, none.filter((l) => !present.includes(l)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
