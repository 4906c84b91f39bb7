/**
 * A cheap look, without Python, for a GPU that PyTorch could train on: the
 * files a GPU driver puts in the OS, a driver's tool on PATH, Apple silicon.
 * `engine: auto` (the default) asks this before it probes Python, since that
 * probe imports torch (seconds) and most machines have no GPU at all. It can
 * see a GPU that torch then does not (a CPU build of torch, a driver too old):
 * the probe decides then. It must not miss one that torch would see.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What the look reads: the platform, files under a root (`/` but in tests), and whether a command is on PATH. */
export interface OsView {
  platform: NodeJS.Platform;
  arch: string;
  /** Where Linux's /proc and /dev are ('/' on a real machine). */
  root: string;
  /** The PATH entries to look for a driver's tool in. */
  pathDirs: readonly string[];
}

export function realOsView(): OsView {
  return {
    platform: process.platform,
    arch: process.arch,
    root: '/',
    pathDirs: (process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
  };
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function onPath(view: OsView, command: string): string | null {
  for (const dir of view.pathDirs) {
    const file = path.join(dir, command);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

/**
 * The GPU the OS shows, in words ("NVIDIA driver: 2 GPUs in /proc/driver/nvidia/gpus"), or null when it shows
 * none that torch could use (CUDA, ROCm or MPS).
 */
export function sightGpu(view: OsView = realOsView()): string | null {
  // MPS on Apple silicon; PyTorch has shipped no builds for Intel Macs since 2.3.
  if (view.platform === 'darwin') return view.arch === 'arm64' ? 'Apple silicon (MPS)' : null;
  if (view.platform === 'win32') {
    const smi = onPath(view, 'nvidia-smi.exe');
    return smi ? `NVIDIA driver (${smi})` : null;
  }
  const under = (p: string): string => path.join(view.root, p);
  // The NVIDIA kernel driver lists each GPU it drives here, even before /dev/nvidia* is made.
  const gpus = entries(under('proc/driver/nvidia/gpus'));
  if (gpus.length > 0)
    return `NVIDIA driver: ${gpus.length} GPU${gpus.length === 1 ? '' : 's'} in /proc/driver/nvidia/gpus`;
  const nodes = entries(under('dev')).filter((n) => /^nvidia\d+$/.test(n));
  if (nodes.length > 0) return `NVIDIA device /dev/${nodes.sort()[0]}`;
  // WSL 2: CUDA goes through /dev/dxg with the Windows driver's libraries mounted here.
  if (fs.existsSync(under('usr/lib/wsl/lib/nvidia-smi'))) return 'NVIDIA driver (WSL, /usr/lib/wsl/lib)';
  // ROCm's compute interface (AMD GPUs).
  if (fs.existsSync(under('dev/kfd'))) return 'AMD GPU (ROCm, /dev/kfd)';
  return null;
}
