/**
 * Which CUDA libraries tfjs-node-gpu needs, and which of them this machine lacks.
 *
 * tfjs-node-gpu 4.x ships libtensorflow 2.9, built against CUDA 11.2 and
 * cuDNN 8. When those libraries are absent, TensorFlow logs a warning and runs
 * on the CPU: the package "works" but is no faster. We look for each library
 * where the dynamic loader would (LD_LIBRARY_PATH, the ld.so cache, the usual
 * CUDA folders) so doctor can name exactly what is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

export const CUDA_LIBRARIES: readonly string[] = [
  'libcudart.so.11.0',
  'libcublas.so.11',
  'libcublasLt.so.11',
  'libcufft.so.10',
  'libcurand.so.10',
  'libcusolver.so.11',
  'libcusparse.so.11',
  'libcudnn.so.8',
];

/**
 * What onnxruntime-node's CUDA provider (1.2x, the CUDA 12 build) loads:
 * CUDA 12 runtime and math libraries and cuDNN 9.
 */
export const ORT_CUDA12_LIBRARIES: readonly string[] = [
  'libcudart.so.12',
  'libcublas.so.12',
  'libcublasLt.so.12',
  'libcufft.so.11',
  'libcurand.so.10',
  'libcudnn.so.9',
];

function ldconfigLibraries(): Set<string> {
  const names = new Set<string>();
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  if (r.status === 0) {
    for (const line of r.stdout.split('\n')) {
      const m = /^\s*(\S+)\s/.exec(line);
      if (m) names.add(m[1]!);
    }
  }
  return names;
}

/** The libraries of `libraries` (default: tfjs-node-gpu's) not found on this machine (Linux only; empty elsewhere). */
export function missingCudaLibraries(
  env: NodeJS.ProcessEnv = process.env,
  libraries: readonly string[] = CUDA_LIBRARIES,
): string[] {
  if (process.platform !== 'linux') return [];
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/local/cuda/lib64',
    '/usr/local/cuda/targets/x86_64-linux/lib',
    '/usr/lib/x86_64-linux-gnu',
  ];
  const cached = ldconfigLibraries();
  return libraries.filter((lib) => !cached.has(lib) && !dirs.some((d) => fs.existsSync(path.join(d, lib))));
}
