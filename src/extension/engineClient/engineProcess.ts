/**
 * One `vembed ... --json` child process: events parsed into a RunState, the
 * rest of its output kept as a log tail, and a stop that escalates.
 *
 * No `vscode` import: the manager is tested against the real engine without
 * VS Code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { LineSplitter, parseEventLine, type EngineEvent } from '../../shared/protocol';
import { initialRunState, reduceRun, type RunState } from '../../shared/runState';

export interface EngineLaunch {
  /** Node executable (the extension host's own unless a setting names another). */
  nodePath: string;
  /** The bundled engine, dist/engine/vembed.js. */
  enginePath: string;
  /** Arguments after the engine path; `--json` is added. */
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

export interface EngineExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  state: RunState;
  /** The last lines the engine wrote that were not events (stderr, stray stdout). */
  logTail: string[];
}

export interface EngineProcessEvents {
  event: [EngineEvent, RunState];
  log: [string, 'stdout' | 'stderr'];
  exit: [EngineExit];
}

const LOG_TAIL_LINES = 200;

export class EngineProcess extends EventEmitter<EngineProcessEvents> {
  private child: ChildProcess | undefined;
  private stateValue: RunState = initialRunState();
  private readonly tail: string[] = [];
  private stopping = false;
  readonly exited: Promise<EngineExit>;
  private resolveExit!: (e: EngineExit) => void;

  constructor(private readonly launch: EngineLaunch) {
    super();
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  get state(): RunState {
    return this.stateValue;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  logTail(n = 20): string[] {
    return this.tail.slice(-n);
  }

  start(): this {
    if (this.child) throw new Error('engine process already started');
    const args = [
      this.launch.enginePath,
      ...this.launch.args,
      ...(this.launch.args.includes('--json') ? [] : ['--json']),
    ];
    // stdin stays open as a lifeline: the engine stops (cleanly) when it closes,
    // so a crashed or killed extension host leaves no orphaned training run.
    const child = spawn(this.launch.nodePath, args, {
      cwd: this.launch.cwd,
      env: { ...process.env, ...this.launch.env, VEMBED_EXIT_WITH_PARENT: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    const out = new LineSplitter();
    const err = new LineSplitter();
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => out.push(chunk).forEach((l) => this.onStdout(l)));
    child
      .stderr!.setEncoding('utf8')
      .on('data', (chunk: string) => err.push(chunk).forEach((l) => this.onLog(l, 'stderr')));
    child.on('error', (e) => {
      this.onLog(`failed to start ${this.launch.nodePath}: ${e.message}`, 'stderr');
      this.finish(null, null);
    });
    child.on('close', (code, signal) => {
      out.end().forEach((l) => this.onStdout(l));
      err.end().forEach((l) => this.onLog(l, 'stderr'));
      this.finish(code, signal);
    });
    return this;
  }

  private onStdout(line: string): void {
    const parsed = parseEventLine(line);
    if (parsed.kind === 'event') {
      this.stateValue = reduceRun(this.stateValue, parsed.event);
      this.emit('event', parsed.event, this.stateValue);
      if (parsed.event.type === 'log' || parsed.event.type === 'warning' || parsed.event.type === 'error') {
        this.remember(`[${parsed.event.type}] ${parsed.event.message}`);
      }
    } else if (parsed.kind === 'not-an-event') {
      this.onLog(line, 'stdout');
    }
  }

  private onLog(line: string, stream: 'stdout' | 'stderr'): void {
    this.remember(line);
    this.emit('log', line, stream);
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.splice(0, this.tail.length - LOG_TAIL_LINES);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (!['completed', 'stopped', 'failed'].includes(this.stateValue.status)) {
      // The engine died without its `finished` event: a crash, or a kill.
      this.stateValue = { ...this.stateValue, status: code === 0 ? 'completed' : 'failed' };
    } else if (code !== 0 && this.stateValue.status === 'completed') {
      this.stateValue = { ...this.stateValue, status: 'failed' };
    }
    const exit: EngineExit = { code, signal, state: this.stateValue, logTail: this.logTail(LOG_TAIL_LINES) };
    this.emit('exit', exit);
    this.resolveExit(exit);
  }

  /**
   * Ask the engine to stop: SIGINT (it finishes the step, saves a checkpoint
   * and exits), then SIGTERM after `graceMs`, then SIGKILL after as long again.
   */
  async stop(graceMs = 30000): Promise<EngineExit> {
    const child = this.child;
    if (!child || !this.running) return this.exited;
    if (!this.stopping) {
      this.stopping = true;
      this.stateValue = {
        ...this.stateValue,
        status: this.stateValue.status === 'running' ? 'stopping' : this.stateValue.status,
      };
      child.kill('SIGINT');
    }
    const escalate = (signal: NodeJS.Signals, after: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          if (this.running) child.kill(signal);
          resolve();
        }, after);
        void this.exited.then(() => {
          clearTimeout(t);
          resolve();
        });
      });
    await escalate('SIGTERM', graceMs);
    await escalate('SIGKILL', graceMs);
    return this.exited;
  }

  /** Immediate kill, for deactivation. */
  kill(): void {
    if (this.running) this.child!.kill('SIGKILL');
  }
}

/** At most one engine run per output folder; everything killed on dispose. */
/**
 * What an engine process is doing: a training run (keyed by its output folder;
 * Stop Training acts on these) or a bounded task (preparation, evaluation,
 * search). A typed field, not a shape of the key: keys are paths, and a path
 * can hold any character (every Windows path has a `:`).
 */
export type EngineJobKind = 'training' | 'task';

interface RegistryEntry {
  readonly kind: EngineJobKind;
  readonly process: EngineProcess;
}

export class EngineRegistry {
  private readonly byKey = new Map<string, RegistryEntry>();

  get(key: string): EngineProcess | undefined {
    const p = this.byKey.get(key)?.process;
    return p?.running ? p : undefined;
  }

  /** Running processes, of one kind or of every kind. */
  active(kind?: EngineJobKind): [string, EngineProcess][] {
    return [...this.byKey.entries()]
      .filter(([, e]) => e.process.running && (kind === undefined || e.kind === kind))
      .map(([key, e]) => [key, e.process]);
  }

  /** Start a run for `key` (its output folder); refuses if one is already running there. */
  start(key: string, launch: EngineLaunch, kind: EngineJobKind = 'task'): EngineProcess {
    const busy = this.get(key);
    if (busy)
      throw new Error(
        `a run is already in progress in ${key} (engine pid ${busy.pid}); stop it first or choose another output_dir`,
      );
    const p = new EngineProcess(launch).start();
    this.byKey.set(key, { kind, process: p });
    void p.exited.then(() => {
      if (this.byKey.get(key)?.process === p) this.byKey.delete(key);
    });
    return p;
  }

  dispose(): void {
    for (const e of this.byKey.values()) e.process.kill();
    this.byKey.clear();
  }
}
