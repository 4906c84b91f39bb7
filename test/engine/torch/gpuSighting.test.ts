// The OS-level look for a GPU (before any Python runs): what it reads, laid out as real files
// under a temporary root, and the platforms it answers from alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sightGpu, type OsView } from '../../../src/engine/torch/gpuSighting';

function tempRoot(t: { after(fn: () => void): void }, files: string[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-gpu-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), '');
  }
  return root;
}

const linux = (root: string): OsView => ({ platform: 'linux', arch: 'x64', root, pathDirs: [] });

test('Linux without a GPU driver: none', (t) => {
  const root = tempRoot(t, ['dev/null', 'dev/tty0', 'proc/driver/rtc']);
  assert.equal(sightGpu(linux(root)), null);
});

test("Linux: the NVIDIA driver's GPU list, its device nodes, WSL's driver, ROCm's /dev/kfd", (t) => {
  const gpus = tempRoot(t, [
    'proc/driver/nvidia/gpus/0000:17:00.0/information',
    'proc/driver/nvidia/gpus/0000:65:00.0/information',
  ]);
  assert.equal(sightGpu(linux(gpus)), 'NVIDIA driver: 2 GPUs in /proc/driver/nvidia/gpus');
  // nvidiactl alone (a driver without a GPU) is not a GPU; nvidia0 is.
  assert.equal(sightGpu(linux(tempRoot(t, ['dev/nvidiactl', 'dev/nvidia-uvm']))), null);
  assert.equal(
    sightGpu(linux(tempRoot(t, ['dev/nvidiactl', 'dev/nvidia1', 'dev/nvidia0']))),
    'NVIDIA device /dev/nvidia0',
  );
  assert.equal(
    sightGpu(linux(tempRoot(t, ['usr/lib/wsl/lib/nvidia-smi', 'dev/dxg']))),
    'NVIDIA driver (WSL, /usr/lib/wsl/lib)',
  );
  assert.equal(sightGpu(linux(tempRoot(t, ['dev/kfd', 'dev/dri/renderD128']))), 'AMD GPU (ROCm, /dev/kfd)');
});

test('Windows: nvidia-smi.exe on PATH; macOS: Apple silicon only', (t) => {
  const bin = tempRoot(t, ['System32/nvidia-smi.exe']);
  const empty = tempRoot(t, []);
  const win = (dirs: string[]): OsView => ({ platform: 'win32', arch: 'x64', root: empty, pathDirs: dirs });
  assert.equal(
    sightGpu(win([empty, path.join(bin, 'System32')])),
    `NVIDIA driver (${path.join(bin, 'System32', 'nvidia-smi.exe')})`,
  );
  assert.equal(sightGpu(win([empty])), null);
  assert.equal(sightGpu({ platform: 'darwin', arch: 'arm64', root: empty, pathDirs: [] }), 'Apple silicon (MPS)');
  assert.equal(sightGpu({ platform: 'darwin', arch: 'x64', root: empty, pathDirs: [] }), null);
});
