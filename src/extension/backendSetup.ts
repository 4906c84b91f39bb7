/** Doctor and Install GPU Backend: what the engine can compute on, and getting CUDA support. */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { backendsDir, trainingSettings } from './engineClient/launch';
import { pythonFlags } from './engineClient/trainFlags';
import type { RunController } from './runController';

/** The version the engine's tfjs-core speaks; a different major would not register with it. */
export const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu@4.22.0';
/** The engine's onnxruntime-node, installed again with its CUDA provider (the packaged one has none). */
export const ORT_CUDA = 'onnxruntime-node@1.30.0';

/** The GPU backends *Install GPU Backend* offers: what each installs and what it needs on the machine. */
export const GPU_BACKENDS = [
  {
    label: 'ONNX Runtime CUDA (embedding, evaluation, search)',
    description: 'needs an NVIDIA driver, CUDA 12 and cuDNN 9',
    detail: `npm install ${ORT_CUDA} with its CUDA 12 provider (downloaded during installation); then set vembed.backend to onnx-cuda`,
    spec: ORT_CUDA,
    npmArgs: ['--onnxruntime-node-install=cuda12'],
    download: 'downloads the CUDA provider of ONNX Runtime; a few hundred MB',
  },
  {
    label: 'TensorFlow.js CUDA (training and everything else)',
    description: 'needs an NVIDIA driver, CUDA 11.2 and cuDNN 8.1',
    detail: `npm install ${TFJS_NODE_GPU} (downloads libtensorflow with CUDA support)`,
    spec: TFJS_NODE_GPU,
    npmArgs: [],
    download: 'downloads libtensorflow with CUDA support; a few hundred MB',
  },
] as const;

export async function runDoctor(
  controller: RunController,
  cwd: string,
  output: vscode.LogOutputChannel,
): Promise<void> {
  const lines: string[] = [];
  const exit = await controller.runTask('doctor', ['doctor', ...pythonFlags(trainingSettings())], cwd, 'doctor');
  if (!exit) return;
  // The doctor's findings arrive as log/warning events; the output channel has them all.
  for (const l of exit.logTail) if (/^\[(log|warning)\] /.test(l)) lines.push(l.replace(/^\[\w+\] /, ''));
  const selected = lines.find((l) => l.startsWith('selected: '))?.slice('selected: '.length) ?? 'none';
  const degraded = lines.find((l) => l.includes('fall back to the CPU'));
  // "Training engine: torch (why)": the PyTorch engine section's verdict (engine/cli/commands/doctorTorch.ts).
  const engine = lines.find((l) => l.startsWith('Training engine: '))?.split(' (')[0];
  output.show(true);
  if (degraded) void vscode.window.showWarningMessage(`vembed: ${degraded}`);
  else
    void vscode.window.showInformationMessage(
      `vembed computes on: ${selected}.${engine ? ` ${engine}.` : ''} Details in the vembed output.`,
    );
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  onLine: (l: string) => void,
  token: vscode.CancellationToken,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, shell: process.platform === 'win32' });
    const forward = (chunk: Buffer) => chunk.toString('utf8').split(/\r?\n/).filter(Boolean).forEach(onLine);
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    token.onCancellationRequested(() => child.kill('SIGTERM'));
    child.on('error', (e) => {
      onLine(`could not run ${cmd}: ${e.message}`);
      resolve(127);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/**
 * Install a GPU backend (ONNX Runtime's CUDA provider or tfjs-node-gpu) into
 * the extension's global storage with npm (both download native libraries,
 * so they need internet), then run Doctor, which names missing CUDA
 * libraries.
 */
export async function installGpuBackend(
  context: vscode.ExtensionContext,
  controller: RunController,
  output: vscode.LogOutputChannel,
  cwd: string,
): Promise<void> {
  if (!controller.ensureTrusted('install packages')) return;
  const picked = await vscode.window.showQuickPick(
    GPU_BACKENDS.map((b) => ({ label: b.label, description: b.description, detail: b.detail, backend: b })),
    { title: 'vembed: Install GPU Backend (needs internet)', placeHolder: 'Which GPU backend?' },
  );
  if (!picked) return;
  const { spec, npmArgs, download } = picked.backend;
  const dir = backendsDir(context);
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(`${dir}/package.json`))
    fs.writeFileSync(`${dir}/package.json`, JSON.stringify({ name: 'vembed-backends', private: true }, null, 2));
  output.show(true);
  const code = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `vembed: installing ${spec}`, cancellable: true },
    async (progress, token) => {
      progress.report({ message: `npm install (${download})` });
      return run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--prefix', dir, ...npmArgs, spec],
        dir,
        (l) => {
          output.info(`[install] ${l}`);
          progress.report({ message: l.slice(0, 120) });
        },
        token,
      );
    },
  );
  if (code !== 0) {
    const choice = await vscode.window.showErrorMessage(
      code === 127
        ? 'vembed: npm was not found on the PATH. Install Node.js (with npm), then try again.'
        : `vembed: installing ${spec} failed (npm exit code ${code}). It ${download.split(';')[0]} during installation and needs internet access; see the log.`,
      'Show Log',
    );
    if (choice) output.show(true);
    return;
  }
  output.info(`[install] ${spec} installed in ${dir}`);
  await runDoctor(controller, cwd, output);
}
