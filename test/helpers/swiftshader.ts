/**
 * The WebGPU provider without a GPU: Debian's chromium (which the browser and
 * end-to-end tests install through scripts/e2e/setup.sh) ships SwiftShader,
 * a Vulkan implementation on the CPU, with its own Vulkan loader, in
 * /usr/lib/chromium. A process started with VK_ICD_FILENAMES naming its
 * driver manifest and that folder on LD_LIBRARY_PATH gets SwiftShader as its
 * WebGPU adapter (both are read when the process starts, so only child
 * processes can use it). VEMBED_SWIFTSHADER_DIR points elsewhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SWIFTSHADER_DIR = process.env.VEMBED_SWIFTSHADER_DIR ?? '/usr/lib/chromium';
const FILES = ['vk_swiftshader_icd.json', 'libvk_swiftshader.so', 'libvulkan.so.1'];

/** The environment of a child process whose WebGPU adapter is SwiftShader, or why there is none. */
export function swiftShader(): { env: NodeJS.ProcessEnv; skip?: undefined } | { env?: undefined; skip: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return {
      skip: `SwiftShader from Debian's chromium is used on linux-x64 only (this is ${process.platform}-${process.arch})`,
    };
  const missing = FILES.filter((f) => !fs.existsSync(path.join(SWIFTSHADER_DIR, f)));
  if (missing.length)
    return {
      skip: `the software Vulkan device (SwiftShader) was not found: ${missing.map((f) => path.join(SWIFTSHADER_DIR, f)).join(', ')} missing (Debian's chromium package has it; scripts/e2e/setup.sh installs it)`,
    };
  return {
    env: {
      ...process.env,
      VK_ICD_FILENAMES: path.join(SWIFTSHADER_DIR, 'vk_swiftshader_icd.json'),
      LD_LIBRARY_PATH: [SWIFTSHADER_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(path.delimiter),
    },
  };
}
