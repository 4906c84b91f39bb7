import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CUDA_LIBRARIES, missingCudaLibraries, ORT_CUDA12_LIBRARIES } from '../../src/engine/backend/cuda';

test(
  'doctor names exactly the CUDA 11 / cuDNN 8 libraries it cannot find',
  { skip: process.platform !== 'linux' && 'Linux only' },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-cuda-'));
    try {
      // This machine has no CUDA: with none of the libraries on LD_LIBRARY_PATH, all are missing
      // (unless the ld.so cache has them, as on a GPU machine).
      const none = missingCudaLibraries({ LD_LIBRARY_PATH: dir });
      for (const lib of none) assert.ok(CUDA_LIBRARIES.includes(lib));
      const present = ['libcudart.so.11.0', 'libcudnn.so.8'];
      for (const lib of present) fs.writeFileSync(path.join(dir, lib), '');
      const some = missingCudaLibraries({ LD_LIBRARY_PATH: `/nonexistent:${dir}` });
      assert.deepEqual(
        some,
        none.filter((l) => !present.includes(l)),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "doctor names the CUDA 12 / cuDNN 9 libraries that ONNX Runtime's CUDA provider needs and cannot find",
  { skip: process.platform !== 'linux' && 'Linux only' },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-cuda12-'));
    try {
      const none = missingCudaLibraries({ LD_LIBRARY_PATH: dir }, ORT_CUDA12_LIBRARIES);
      for (const lib of none) assert.ok(ORT_CUDA12_LIBRARIES.includes(lib));
      assert.ok(ORT_CUDA12_LIBRARIES.includes('libcudnn.so.9') && ORT_CUDA12_LIBRARIES.includes('libcudart.so.12'));
      fs.writeFileSync(path.join(dir, 'libcudnn.so.9'), '');
      assert.deepEqual(
        missingCudaLibraries({ LD_LIBRARY_PATH: dir }, ORT_CUDA12_LIBRARIES),
        none.filter((l) => l !== 'libcudnn.so.9'),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
