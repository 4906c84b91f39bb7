/**
 * Bookkeeping that guarantees an e2e run leaves no process behind.
 *
 * code-server and Chromium each start in their own process group, but some
 * of their children leave it (VS Code's file watcher, Chromium's zygote), so
 * every process we start also carries a marker in its environment, inherited
 * by all its descendants. Teardown kills the groups, then sweeps /proc for the
 * marker. A run that crashed before its teardown is cleaned up by the next
 * one: its marker names an owner pid that no longer exists.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';

export const MARKER_VAR = 'VEMBED_E2E_OWNER';

/**
 * `<owner pid>:<random>[:<run id>]`: unique per harness session. The run id
 * ($VEMBED_E2E_RUN, set by scripts/e2e/run.mjs) lets a runner find what its own
 * sessions left, without touching a concurrent run's processes.
 */
export function newMarker(): string {
  const run = process.env.VEMBED_E2E_RUN;
  return `${process.pid}:${randomBytes(6).toString('hex')}${run ? `:${run}` : ''}`;
}

export interface ProcInfo {
  pid: number;
  pgid: number;
  command: string;
  marker: string | undefined;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgid = Number(rest[2]);
    const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const entry = env.find((e) => e.startsWith(`${MARKER_VAR}=`));
    return { pid, pgid, command, marker: entry?.slice(MARKER_VAR.length + 1) };
  } catch {
    return undefined; // gone, a zombie, or not ours to read
  }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** Live processes carrying `marker` (or, without one, any harness marker). */
export function markedProcesses(marker?: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of allPids()) {
    const info = readProc(pid);
    if (info?.marker !== undefined && (marker === undefined || info.marker === marker)) out.push(info);
  }
  return out;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is already empty
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops a process group: SIGTERM, up to `graceMs` for the leader to exit, then
 * SIGKILL to whatever is left in the group.
 */
export async function killGroup(pgid: number, graceMs = 2000): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pgid) && Date.now() < deadline) await sleep(50);
  signalGroup(pgid, 'SIGKILL');
}

/** SIGKILLs every process carrying `marker` until none is left (or `timeoutMs`). Returns those it found. */
export async function sweep(marker: string, timeoutMs = 5000): Promise<ProcInfo[]> {
  const found = new Map<number, ProcInfo>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = markedProcesses(marker);
    if (left.length === 0) return [...found.values()];
    for (const p of left) {
      found.set(p.pid, p);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`processes survive SIGKILL: ${left.map((p) => `${p.pid} ${p.command.slice(0, 80)}`).join('; ')}`);
    }
    await sleep(100);
  }
}

/** Whether the harness session that made `marker` (or owns a folder) is gone. */
export function ownerIsGone(marker: string): boolean {
  const owner = Number(marker.split(':')[0]);
  return !Number.isInteger(owner) || owner <= 0 || !isAlive(owner);
}

/** Kills what earlier harness sessions left when they died without a teardown. */
export async function sweepOrphans(): Promise<ProcInfo[]> {
  const orphans = markedProcesses().filter((p) => ownerIsGone(p.marker!));
  const markers = new Set(orphans.map((p) => p.marker!));
  const killed: ProcInfo[] = [];
  for (const m of markers) killed.push(...(await sweep(m)));
  return killed;
}

/** The first process carrying `marker` that leads its own group and whose command line includes `commandIncludes`. */
export function groupLeader(marker: string, commandIncludes: string): number | undefined {
  return markedProcesses(marker).find((p) => p.pid === p.pgid && p.command.includes(commandIncludes))?.pid;
}
