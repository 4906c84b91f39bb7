/**
 * The torch engine's processes. vembed starts the N ranks of one machine itself, with the environment
 * torchrun / `accelerate launch` would give them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so it
 * sees each rank's exit and can name the one that failed; with an accelerate config file (several machines) it
 * runs `accelerate launch --config_file FILE` instead. Rank 0 is the only one it talks to: commands on its stdin,
 * JSON replies on its stdout, one per line (python/vembed_torch/channel.py). Each rank's stderr goes to
 * `torch-rank-K.log` in the run folder, and its last lines into failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

/** A reply of rank 0 (python/vembed_torch/train.py). */
export type RankMessage = { type: string } & Record<string, unknown>;

export interface LaunchOptions {
  python: string;
  /** The folder holding the vembed_torch package (python/). */
  packageDir: string;
  spec: string;
  /** Unset with an accelerate config: its `num_processes`. */
  numProcesses?: number;
  accelerateConfig?: string;
  /** Where the ranks' logs go. */
  logDir: string;
}

/** One rank ended while the run still needed it (or said it failed). */
export class RankFailure extends Error {
  override readonly name = 'RankFailure';
  constructor(
    readonly rank: number | 'launcher',
    message: string,
  ) {
    super(message);
  }
}

const TAIL_LINES = 12;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

interface Rank {
  index: number | 'launcher';
  child: ChildProcess;
  tail: string[];
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

export class TorchRanks {
  private readonly ranks: Rank[] = [];
  private readonly inbox: RankMessage[] = [];
  private waiting: { resolve: (m: RankMessage) => void; reject: (e: Error) => void } | undefined;
  private failure: RankFailure | undefined;
  private failureTimer: NodeJS.Timeout | undefined;
  /** Set once the failure is decided: every later wait rejects with it. */
  private failed = false;
  private closing = false;
  private readonly killAll = () => this.kill();

  private constructor() {
    process.once('exit', this.killAll);
  }

  static async start(opts: LaunchOptions): Promise<TorchRanks> {
    const ranks = new TorchRanks();
    const n = opts.numProcesses;
    fs.mkdirSync(opts.logDir, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', TOKENIZERS_PARALLELISM: 'false' };
    // N processes on one machine share its cores; left alone each would start a thread per core (with an
    // accelerate config's own count, torchrun sets one thread per process).
    if (!env.OMP_NUM_THREADS && n !== undefined)
      env.OMP_NUM_THREADS = String(Math.max(1, Math.floor(os.availableParallelism() / n)));
    const module = ['-m', 'vembed_torch.train', '--spec', opts.spec];
    if (opts.accelerateConfig) {
      const args = ['-m', 'accelerate.commands.launch', '--config_file', opts.accelerateConfig];
      if (n !== undefined) args.push('--num_processes', String(n));
      args.push(...module);
      ranks.add(
        'launcher',
        spawn(opts.python, args, { cwd: opts.packageDir, env, stdio: ['pipe', 'pipe', 'pipe'] }),
        opts,
      );
      return ranks;
    }
    const count = n ?? 1;
    const port = count > 1 ? await freePort() : 0;
    for (let r = 0; r < count; r++) {
      const rankEnv = {
        ...env,
        RANK: String(r),
        LOCAL_RANK: String(r),
        WORLD_SIZE: String(count),
        LOCAL_WORLD_SIZE: String(count),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
      };
      const stdio: Array<'pipe' | 'ignore'> = r === 0 ? ['pipe', 'pipe', 'pipe'] : ['ignore', 'ignore', 'pipe'];
      ranks.add(r, spawn(opts.python, module, { cwd: opts.packageDir, env: rankEnv, stdio }), opts);
    }
    return ranks;
  }

  private add(index: number | 'launcher', child: ChildProcess, opts: LaunchOptions): void {
    const rank: Rank = { index, child, tail: [] };
    this.ranks.push(rank);
    const log = fs.createWriteStream(path.join(opts.logDir, `torch-rank-${index === 'launcher' ? 0 : index}.log`));
    child.stderr!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      rank.tail.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l.trim() !== ''),
      );
      rank.tail.splice(0, Math.max(0, rank.tail.length - TAIL_LINES));
    });
    if (index === 0 || index === 'launcher') {
      readline.createInterface({ input: child.stdout! }).on('line', (line) => this.receive(line, index));
      // A rank gone before reading its command: the exit handler reports it.
      child.stdin!.on('error', () => undefined);
    }
    child.on('error', (e) => this.fail(new RankFailure(index, `${describeRank(index)} could not start: ${e.message}`)));
    child.on('exit', (code, signal) => {
      rank.exit = { code, signal };
      log.end();
      if (this.closing && code === 0) return;
      this.fail(this.exitFailure(rank));
    });
  }

  private receive(line: string, index: number | 'launcher'): void {
    let message: RankMessage;
    try {
      message = JSON.parse(line) as RankMessage;
    } catch {
      return; // a stray print from a library, not a reply
    }
    if (message.type === 'failed') {
      this.fail(new RankFailure(index, `${describeRank(index)} failed: ${String(message.message)}`));
      return;
    }
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(message);
    } else this.inbox.push(message);
  }

  private exitFailure(rank: Rank): RankFailure {
    const how = rank.exit!.signal ? `was killed (${rank.exit!.signal})` : `exited with code ${rank.exit!.code}`;
    const tail = rank.tail.length > 0 ? `; its last words: ${rank.tail.slice(-3).join(' | ')}` : '';
    return new RankFailure(rank.index, `${describeRank(rank.index)} ${how}${tail}`);
  }

  /**
   * The first failure decides, after a moment for the other ranks' exits to arrive: a rank killed by a signal
   * is the cause and the others' errors (a closed connection) its consequence.
   */
  private fail(failure: RankFailure): void {
    if (this.closing && !this.waiting) return;
    if (!this.failure || (failure.message.includes('was killed') && !this.failure.message.includes('was killed')))
      this.failure = failure;
    if (this.failureTimer) return;
    this.failureTimer = setTimeout(() => {
      this.failed = true;
      this.kill();
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(this.failure!);
    }, 500);
  }

  send(command: Record<string, unknown>): void {
    if (this.failed) throw this.failure!;
    this.ranks[0]!.child.stdin!.write(JSON.stringify(command) + '\n');
  }

  /** The next reply of rank 0; rejects with a RankFailure when a rank ends or fails first. */
  next(): Promise<RankMessage> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failed) return Promise.reject(this.failure!);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** The next reply, which must be of `type`. */
  async expect(type: string): Promise<RankMessage> {
    const m = await this.next();
    if (m.type !== type) throw new Error(`the torch engine answered ${JSON.stringify(m)} where "${type}" was due`);
    return m;
  }

  /** Asks the ranks to end and waits for them (killed after `graceMs`). */
  async close(graceMs = 30_000): Promise<void> {
    this.closing = true;
    const alive = this.ranks.filter((r) => !r.exit);
    if (alive.length > 0 && !this.failure) {
      try {
        this.ranks[0]!.child.stdin!.end(JSON.stringify({ cmd: 'quit' }) + '\n');
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => this.kill(), graceMs);
    await Promise.all(
      alive.map((r) => new Promise<void>((resolve) => (r.exit ? resolve() : r.child.once('exit', () => resolve())))),
    );
    clearTimeout(timer);
    if (this.failureTimer) clearTimeout(this.failureTimer);
    process.removeListener('exit', this.killAll);
  }

  kill(): void {
    for (const r of this.ranks) if (!r.exit && r.child.pid !== undefined) r.child.kill('SIGKILL');
  }
}

function describeRank(index: number | 'launcher'): string {
  return index === 'launcher' ? 'the torch engine (accelerate launch)' : `the torch engine's rank ${index}`;
}
