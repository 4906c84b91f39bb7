/**
 * Reading the logs the WebGPU checks rely on, without a GPU: the Vulkan
 * loader's lines that name the device (src/engine/onnx/adapter.ts) and ONNX
 * Runtime's "Node placements" lines (placement.ts). The lines are in the
 * format this machine's loader (1.4) and onnxruntime-node 1.30 print;
 * webgpu-placement.test.ts reads the real ones on SwiftShader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adapterFromLoaderLog,
  adapterReportingEnv,
  describeAdapter,
  isSoftwareAdapter,
  withoutLoaderLog,
} from '../../../src/engine/onnx/adapter';
import { parsePlacementLog } from '../../../src/engine/onnx/placement';

const SWIFTSHADER = `[Vulkan Loader] INFO | DRIVER:  linux_read_sorted_physical_devices:
[Vulkan Loader] INFO | DRIVER:       Original order:
[Vulkan Loader] INFO | DRIVER:             [0] SwiftShader Device (Subzero)
[Vulkan Loader] INFO | DRIVER:       Sorted order:
[Vulkan Loader] INFO | DRIVER:             [0] SwiftShader Device (Subzero)
[Vulkan Loader] DRIVER:                Using "SwiftShader Device (Subzero)" with driver: "/usr/lib/chromium/libvk_swiftshader.so"
ok`;

test('the Vulkan device Dawn created is the adapter; SwiftShader, llvmpipe and lavapipe are software', () => {
  assert.deepEqual(adapterFromLoaderLog(SWIFTSHADER), {
    name: 'SwiftShader Device (Subzero)',
    driver: '/usr/lib/chromium/libvk_swiftshader.so',
    software: true,
  });
  const nvidia = adapterFromLoaderLog(
    '[Vulkan Loader] DRIVER:   Using "NVIDIA H100 80GB HBM3" with driver: "/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0"\n',
  );
  assert.equal(nvidia.software, false);
  assert.equal(describeAdapter(nvidia), 'NVIDIA H100 80GB HBM3, Vulkan');
  assert.equal(
    describeAdapter(adapterFromLoaderLog(SWIFTSHADER)),
    'SwiftShader Device (Subzero), software: shaders run on the CPU',
  );
  // An older loader without the "Using" line: the first of the sorted devices.
  const older = adapterFromLoaderLog('Sorted order:\n   [0] llvmpipe (LLVM 15.0.6, 256 bits)\n');
  assert.deepEqual(older, { name: 'llvmpipe (LLVM 15.0.6, 256 bits)', software: true });
  assert.ok(isSoftwareAdapter(undefined, '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so'));
  assert.ok(!isSoftwareAdapter('AMD Radeon RX 7900 XTX (RADV NAVI31)', '/usr/lib/libvulkan_radeon.so'));
  // Metal, D3D12 or a loader that said nothing: no name, not called software.
  assert.deepEqual(adapterFromLoaderLog('some other output\n'), { name: undefined, software: false });
  assert.equal(describeAdapter(undefined), 'adapter not reported');
});

test("the loader's debug switch is added to the child's environment, and its lines are left out of error text", () => {
  assert.equal(adapterReportingEnv({}).VK_LOADER_DEBUG, 'driver');
  assert.equal(adapterReportingEnv({ VK_LOADER_DEBUG: 'error' }).VK_LOADER_DEBUG, 'error,driver');
  assert.equal(withoutLoaderLog(SWIFTSHADER), 'ok');
});

test("ONNX Runtime's node placements: counts per provider, listed nodes per graph's log id", () => {
  const at = (id: number, text: string) =>
    `2026-12-07 02:08:16.433 [V:onnxruntime:vembed-graph-${id}, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp] ${text}`;
  const log = [
    at(0, 'Node placements'),
    at(0, ' Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2'),
    at(0, '  Concat (Concat_6)'),
    at(0, '  Gather (Gather)'),
    at(0, ' Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 3'),
    at(0, '  Reshape (Reshape_2)'),
    at(0, '  BiasGelu (BiasGelu_token_4)'),
    at(0, '  MemcpyToHost (Memcpy)'),
    at(1, 'Node placements'),
    at(1, ' All nodes placed on [CPUExecutionProvider]. Number of nodes: 7'),
    '\u001b[0;93m2026-12-07 02:08:16.43 [W:onnxruntime:, session_state.cc:1397 VerifyEachNodeIsAssignedToAnEp] Some nodes were not assigned\u001b[m',
  ].join('\n');
  const placed = parsePlacementLog(log);
  assert.deepEqual([...placed.keys()], [0, 1]);
  assert.deepEqual(placed.get(0)!.get('CPU'), {
    count: 2,
    nodes: [
      ['Concat', 'Concat_6'],
      ['Gather', 'Gather'],
    ],
  });
  assert.equal(placed.get(0)!.get('WebGpu')!.count, 3);
  assert.deepEqual(placed.get(0)!.get('WebGpu')!.nodes[2], ['MemcpyToHost', 'Memcpy']);
  assert.deepEqual(placed.get(1)!.get('CPU'), { count: 7, nodes: [] });
});
