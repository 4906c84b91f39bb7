/**
 * Starts and stops engine runs for the commands: training in the background
 * with the status bar, preparation and evaluation behind a cancellable
 * progress notification, everything logged to the output channel.
 */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineRegistry, type EngineExit, type EngineProcess } from './engineClient/engineProcess';
import { engineLaunch, trainingSettings } from './engineClient/launch';
import { trainingFlags, type TrainChoice } from './engineClient/trainFlags';
import { loadConfigText } from '../shared/config/validate';
import { RunStatusBar } from './statusBar';
import { noticeLeakage } from './dataHealthNotice';
import { COMMAND_IDS } from './commandIds';
import { RUN_EXISTS_ERROR, type EngineEvent } from '../shared/protocol';
import type { RunState } from '../shared/runState';

export interface RunListener {
  /** A run started (or resumed); the panel follows it. */
  onRunStarted?(key: string, process: EngineProcess): void;
}

export class RunController implements vscode.Disposable {
  private readonly registry = new EngineRegistry();
  private readonly statusBar = new RunStatusBar();
  private lastTrainKey: string | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly listener: RunListener = {},
  ) {}

  /** Nothing runs in an untrusted workspace; say so instead of failing silently. */
  ensureTrusted(what: string): boolean {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window
      .showWarningMessage(
        `vembed does not ${what} in an untrusted workspace. Trust the workspace to run the engine; config IntelliSense works either way.`,
        'Manage Workspace Trust',
      )
      .then((choice) => {
        if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
      });
    return false;
  }

  /** The running (or most recent) training run's key, for Stop and the panel. */
  get currentTrainKey(): string | undefined {
    return this.lastTrainKey;
  }

  /** Training runs in progress (what Stop Training offers), keyed by output folder. */
  runningTraining(): [string, EngineProcess][] {
    return this.registry.active('training');
  }

  processFor(key: string): EngineProcess | undefined {
    return this.registry.get(key);
  }

  private log(label: string, p: EngineProcess): void {
    // One leakage notification per engine process: the warning can come from more than one check.
    let leakageShown = false;
    p.on('log', (line, stream) =>
      stream === 'stderr' ? this.output.warn(`[${label}] ${line}`) : this.output.info(`[${label}] ${line}`),
    );
    p.on('event', (e: EngineEvent) => {
      if (e.type === 'log') this.output.info(`[${label}] ${e.message}`);
      else if (e.type === 'warning') {
        this.output.warn(`[${label}] ${e.message}`);
        if (!leakageShown) leakageShown = noticeLeakage(label, e);
      } else if (e.type === 'error') this.output.error(`[${label}] ${e.message}${e.hint ? ` (${e.hint})` : ''}`);
      else if (e.type === 'checkpoint') this.output.info(`[${label}] saved ${e.path}`);
      else if (e.type === 'evaluation')
        this.output.info(`[${label}] evaluation epoch ${e.epoch}: ${JSON.stringify(e.metrics)}`);
    });
  }

  private async reportExit(label: string, exit: EngineExit): Promise<void> {
    this.output.info(
      `[${label}] engine exited with code ${exit.code}${exit.signal ? ` (${exit.signal})` : ''}: ${exit.state.status}`,
    );
    if (exit.state.status !== 'failed') return;
    // The engine refused an output_dir holding an earlier run: the Train command asks what to do instead.
    if (exit.state.error?.code === RUN_EXISTS_ERROR) return;
    const tail = exit.logTail.slice(-5).join('\n');
    const message = exit.state.error
      ? exit.state.error.message
      : `the engine exited with code ${exit.code ?? exit.signal}`;
    const choice = await vscode.window.showErrorMessage(
      `vembed ${label} failed: ${message}`,
      { detail: tail, modal: false },
      'Show Log',
    );
    if (choice === 'Show Log') void vscode.commands.executeCommand(COMMAND_IDS.showLog);
  }

  /** Training: a background run followed by the status bar (and the panel). */
  startTraining(
    configFile: string,
    cwd: string,
    outputDir: string,
    resume?: string,
    overwrite = false,
    choice: TrainChoice = {},
  ): EngineProcess | undefined {
    const args = [
      'train',
      '--config',
      configFile,
      ...(resume ? ['--resume', resume] : []),
      ...(overwrite ? ['--overwrite'] : []),
      ...trainingFlags(trainingSettings(), configEngine(configFile), choice),
    ];
    let p: EngineProcess;
    try {
      p = this.registry.start(outputDir, engineLaunch(this.context, args, cwd, true), 'training');
    } catch (e) {
      void vscode.window.showWarningMessage(`vembed: ${(e as Error).message}`);
      return undefined;
    }
    const label = resume ? 'resume' : 'training';
    this.lastTrainKey = outputDir;
    this.output.info(`[${label}] started: vembed ${args.join(' ')} (cwd ${cwd}, pid ${p.pid})`);
    this.log(label, p);
    this.statusBar.show(label, p.state);
    p.on('event', (_e, state: RunState) => this.statusBar.show(label, state));
    void p.exited.then((exit) => {
      this.statusBar.show(label, exit.state);
      return this.reportExit(label, exit);
    });
    this.listener.onRunStarted?.(outputDir, p);
    return p;
  }

  async stop(key: string): Promise<void> {
    const p = this.registry.get(key);
    if (!p) {
      void vscode.window.showInformationMessage('vembed: no run is in progress there.');
      return;
    }
    this.output.info(`stopping the run in ${key} (SIGINT; it saves a checkpoint first)`);
    const exit = await p.stop();
    this.output.info(`run in ${key} ended: ${exit.state.status}`);
  }

  /**
   * A bounded task (preparation, evaluation, search) behind a cancellable
   * progress notification; cancelling stops the engine.
   */
  async runTask(title: string, args: string[], cwd: string, key = `${title}:${cwd}`): Promise<EngineExit | undefined> {
    let p: EngineProcess;
    try {
      p = this.registry.start(key, engineLaunch(this.context, args, cwd, true), 'task');
    } catch (e) {
      void vscode.window.showWarningMessage(`vembed: ${(e as Error).message}`);
      return undefined;
    }
    this.output.info(`[${title}] vembed ${args.join(' ')} (cwd ${cwd})`);
    this.log(title, p);
    const exit = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `vembed: ${title}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => void p.stop(5000));
        let last = 0;
        p.on('event', (e) => {
          if (e.type !== 'progress') return;
          const pct = e.total ? Math.min(100, (100 * e.done) / e.total) : undefined;
          const increment = pct !== undefined ? pct - last : undefined;
          if (pct !== undefined) last = pct;
          progress.report({
            message: `${e.task}${e.total ? ` ${e.done}/${e.total}` : ''}${e.message ? `: ${e.message}` : ''}`,
            ...(increment !== undefined ? { increment } : {}),
          });
        });
        return p.exited;
      },
    );
    await this.reportExit(title, exit);
    return exit;
  }

  /** Kill every engine process (deactivation): nothing is left running. */
  dispose(): void {
    this.registry.dispose();
    this.statusBar.dispose();
  }
}

/** The config's `engine` key (undefined when unset or unreadable: the engine reports a broken config itself). */
function configEngine(configFile: string): unknown {
  try {
    return (loadConfigText(fs.readFileSync(configFile, 'utf8')).config as { engine?: unknown } | undefined)?.engine;
  } catch {
    return undefined;
  }
}

/** The workspace folder a file belongs to (the engine's working directory), or its own folder. */
export function workingDirectoryFor(uri: vscode.Uri): string {
  return vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? path.dirname(uri.fsPath);
}
