/**
 * Which adapter ONNX Runtime's WebGPU provider got. ONNX Runtime does not
 * say (its Node binding exposes no adapter information), so on Linux the
 * Vulkan loader is asked: with VK_LOADER_DEBUG=driver it writes, when Dawn
 * creates its device, `Using "<device name>" with driver: "<library>"` to
 * stderr. A child process that ran a WebGPU session with that variable set
 * (probe.ts, placement.ts) hands its stderr here. Elsewhere (Metal, D3D12)
 * the adapter stays unnamed.
 *
 * A software adapter (SwiftShader, llvmpipe/lavapipe, WARP) runs the
 * shaders on the CPU: right for testing the WebGPU path, far slower than
 * the CPU provider for real work.
 */

export interface WebGpuAdapter {
  /** The device name as Vulkan gives it, e.g. "SwiftShader Device (Subzero)"; undefined when not reported. */
  name?: string;
  /** The Vulkan driver library. */
  driver?: string;
  software: boolean;
}

/** Environment for a child process whose stderr should name the Vulkan device (harmless without Vulkan). */
export function adapterReportingEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const current = env.VK_LOADER_DEBUG;
  return { ...env, VK_LOADER_DEBUG: current ? `${current},driver` : 'driver' };
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|\blvp\b|libvulkan_lvp|microsoft basic render|\bwarp\b/i;

/** Whether a device or driver name is a CPU implementation of the GPU API. */
export function isSoftwareAdapter(name: string | undefined, driver?: string): boolean {
  return SOFTWARE.test(name ?? '') || SOFTWARE.test(driver ?? '');
}

/** The adapter named in a child's stderr (see the file comment); undefined fields when the loader said nothing. */
export function adapterFromLoaderLog(stderr: string): WebGpuAdapter {
  // The device Dawn created (the last one: each session's device is the same adapter's).
  const used = [...stderr.matchAll(/Using "([^"]+)" with driver: "([^"]+)"/g)].pop();
  if (used) return { name: used[1], driver: used[2], software: isSoftwareAdapter(used[1], used[2]) };
  // Older loaders: the first device of the sorted list, the one an adapter request prefers.
  const sorted = /Sorted order:\s*\n[^\n]*\[0\]\s*([^\n]+?)\s*$/m.exec(stderr);
  const name = sorted?.[1];
  return { name, software: isSoftwareAdapter(name) };
}

/** Without the loader's debug lines (they interleave with ONNX Runtime's own messages). */
export function withoutLoaderLog(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.startsWith('[Vulkan Loader]'))
    .join('\n');
}

/** "SwiftShader Device (Subzero), software: shaders run on the CPU", "NVIDIA H100, Vulkan", "adapter not reported". */
export function describeAdapter(a: WebGpuAdapter | undefined): string {
  if (!a?.name) return 'adapter not reported';
  return a.software ? `${a.name}, software: shaders run on the CPU` : `${a.name}, Vulkan`;
}
