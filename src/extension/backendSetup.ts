/** Doctor and Install GPU Backend: what the engine can compute on, and getting CUDA support. */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { backendsDir } from './engine/launch';
import type { RunController } from './runController';

/** The version the engine's tfjs-core speaks; a different major would not register with it. */
export const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu@4.22.0';

export async function runDoctor(controller: RunController, cwd: string, output: vscode.LogOutputChannel): Promise<void> {
  const lines: string[] = [];
  const exit = await controller.runTask('doctor', ['doctor'], cwd, 'doctor');
  if (!exit) return;
  // The doctor's findings arrive as log/warning events; the output channel has them all.
  for (const l of exit.logTail) if (/^\[(log|warning)\] /.test(l)) lines.push(l.replace(/^\[\w+\] /, ''));
  const selected = lines.find((l) => l.startsWith('selected: '))?.slice('selected: '.length) ?? 'none';
  const degraded = lines.find((l) => l.includes('fall back to the CPU'));
  output.show(true);
  if (degraded) void vscode.window.showWarningMessage(`vembed: ${degraded}`);
  else void vscode.window.showInformationMessage(`vembed computes on: ${selected}. Details in the vembed output.`);
}

function run(cmd: string, args: string[], cwd: string, onLine: (l: string) => void, token: vscode.CancellationToken): Promise<number> {
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
 * Install tfjs-node-gpu into the extension's global storage with npm (it
 * downloads libtensorflow, so it needs internet), then run Doctor.
 */
export async function installGpuBackend(context: vscode.ExtensionContext, controller: RunController, output: vscode.LogOutputChannel, cwd: string): Promise<void> {
  if (!controller.ensureTrusted('install packages')) return;
  const dir = backendsDir(context);
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(`${dir}/package.json`)) fs.writeFileSync(`${dir}/package.json`, JSON.stringify({ name: 'vembed-backends', private: true }, null, 2));
  output.show(true);
  const code = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `vembed: installing ${TFJS_NODE_GPU}`, cancellable: true },
    async (progress, token) => {
      progress.report({ message: 'npm install (downloads libtensorflow with CUDA support; a few hundred MB)' });
      return run('npm', ['install', '--no-audit', '--no-fund', '--prefix', dir, TFJS_NODE_GPU], dir, (l) => {
        output.info(`[install] ${l}`);
        progress.report({ message: l.slice(0, 120) });
      }, token);
    },
  );
  if (code !== 0) {
    const choice = await vscode.window.showErrorMessage(
      code === 127
        ? 'vembed: npm was not found on the PATH. Install Node.js (with npm), then try again.'
        : `vembed: installing ${TFJS_NODE_GPU} failed (npm exit code ${code}). It downloads libtensorflow during installation and needs internet access; see the log.`,
      'Show Log',
    );
    if (choice) output.show(true);
    return;
  }
  output.info(`[install] ${TFJS_NODE_GPU} installed in ${dir}`);
  await runDoctor(controller, cwd, output);
}
