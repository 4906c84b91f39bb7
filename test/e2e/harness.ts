/**
 * End-to-end harness: a real VS Code (code-server) with the packaged extension
 * installed, driven through Debian's Chromium by playwright-core.
 *
 *   await withVsCode({ name: 'my-test', workspace }, async ({ workbench }) => {
 *     await workbench.openFile('a_i2i.yaml');
 *     await workbench.runCommand('vembed: Validate Config');
 *   });
 *
 * Each session gets its own port, folders (HOME, TMPDIR, XDG_*, extensions,
 * user data, browser profile) and artifacts folder `.test-output/e2e/<name>/`
 * (code-server log, VS Code logs, screenshots). Teardown kills the process
 * groups of code-server and Chromium and sweeps any descendant that escaped
 * them, so a session leaves no process behind, pass or fail.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import {
  installExtension,
  makeSessionDirs,
  sessionEnv,
  startCodeServer,
  writeUserSettings,
  type RunningCodeServer,
  type SessionDirs,
} from './harness/code-server';
import {
  groupLeader,
  killGroup,
  markedProcesses,
  newMarker,
  ownerIsGone,
  sweep,
  sweepOrphans,
  type ProcInfo,
} from './harness/processes';
import { ARTIFACTS_ROOT, findTools, vsixUnderTest, type E2ETools } from './harness/tools';
import { Workbench } from './harness/workbench';

export { Workbench, waitFor, type ProblemCounts, type ProblemRow, type StatusBarItem } from './harness/workbench';
export { markedProcesses, type ProcInfo } from './harness/processes';
export { ARTIFACTS_ROOT, findTools, type E2ETools } from './harness/tools';

/** Flags for Debian's Chromium in a container: no sandbox, no GPU, nothing in the background. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchOptions {
  /** Names the artifacts folder `.test-output/e2e/<name>/`, emptied first. */
  name: string;
  /**
   * The workspace: an existing folder, or files (relative path -> content)
   * written into a fresh folder that lives and dies with the session.
   */
  workspace: string | { files: Record<string, string | Buffer> };
  /** User settings on top of the harness defaults (see DEFAULT_SETTINGS). */
  settings?: Record<string, unknown>;
  viewport?: { width: number; height: number };
}

export interface TeardownReport {
  /** Processes still alive after the graceful close and group kills, killed by the sweep. */
  swept: ProcInfo[];
  seconds: number;
}

export interface VsCodeSession {
  readonly workbench: Workbench;
  readonly page: Page;
  /** code-server's address, e.g. http://127.0.0.1:41234/ */
  readonly url: string;
  readonly artifactsDir: string;
  /** Folder opened as the workspace. */
  readonly workspace: string;
  /** Installed extension folder (inside the session's extensions dir). */
  readonly extensionDir: string;
  /** Environment marker carried by every process of this session (see processes.ts). */
  readonly marker: string;
  /** Seconds spent in each start-up step. */
  readonly timings: Record<string, number>;
  close(): Promise<TeardownReport>;
}

/** The tools, or throws with what to run. */
export function requireTools(): E2ETools {
  const tools = findTools();
  if (typeof tools === 'string') throw new Error(`e2e tools missing: ${tools}`);
  return tools;
}

function toBrowserEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function copyLogs(dirs: SessionDirs, artifactsDir: string): void {
  const logs = path.join(dirs.userData, 'logs');
  if (fs.existsSync(logs)) fs.cpSync(logs, path.join(artifactsDir, 'vscode-logs'), { recursive: true });
}

const SESSION_PREFIX = 'vembed-e2e-';
const OWNER_FILE = 'owner-marker';

/** Session folders in the temp dir whose harness died before its teardown (their processes are swept first). */
function removeOrphanSessionDirs(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(SESSION_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      if (ownerIsGone(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8').trim()))
        fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // not a session folder, or another session is removing it
    }
  }
}

function writeWorkspace(dir: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.resolve(dir, rel);
    if (!file.startsWith(dir + path.sep)) throw new Error(`workspace file ${rel} is outside the workspace`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

/** Kills everything of a session, synchronously: for process exit and signals, when no await is possible. */
function killNow(marker: string): void {
  for (const p of markedProcesses(marker)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function launchVsCode(opts: LaunchOptions): Promise<VsCodeSession> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  let lapStart = t0;
  const lap = (step: string) => {
    timings[step] = (Date.now() - lapStart) / 1000;
    lapStart = Date.now();
  };

  await sweepOrphans();
  removeOrphanSessionDirs();
  const tools = requireTools();
  const vsix = vsixUnderTest();
  lap('package');

  const artifactsDir = path.join(ARTIFACTS_ROOT, opts.name.replace(/[^\w.-]+/g, '_'));
  fs.rmSync(artifactsDir, { recursive: true, force: true });
  fs.mkdirSync(artifactsDir, { recursive: true });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), SESSION_PREFIX));
  const marker = newMarker();
  fs.writeFileSync(path.join(root, OWNER_FILE), marker);
  const dirs = makeSessionDirs(root);
  let workspace: string;
  if (typeof opts.workspace === 'string') {
    workspace = path.resolve(opts.workspace);
  } else {
    workspace = path.join(root, 'workspace');
    fs.mkdirSync(workspace);
    writeWorkspace(workspace, opts.workspace.files);
  }
  const env = sessionEnv(dirs, tools, marker);
  writeUserSettings(dirs, opts.settings);
  const logFile = path.join(artifactsDir, 'code-server.log');

  let server: RunningCodeServer | undefined;
  let context: BrowserContext | undefined;
  let closed = false;
  const onExit = () => killNow(marker);
  const onSignal = (signal: NodeJS.Signals) => {
    killNow(marker);
    process.exit(128 + (os.constants.signals[signal] ?? 1));
  };
  process.once('exit', onExit);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, onSignal);

  const close = async (): Promise<TeardownReport> => {
    if (closed) return { swept: [], seconds: 0 };
    closed = true;
    const c0 = Date.now();
    // Chromium's group is looked up before closing: playwright gives no pid for a persistent context.
    const browserGroup = groupLeader(marker, 'chromium');
    if (context) await Promise.race([context.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5_000))]);
    if (browserGroup !== undefined) await killGroup(browserGroup, 1_000);
    if (server) await server.stop();
    const swept = await sweep(marker);
    process.removeListener('exit', onExit);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(s, onSignal);
    try {
      copyLogs(dirs, artifactsDir);
    } catch {
      // logs are a convenience
    }
    fs.rmSync(root, { recursive: true, force: true });
    if (vsix.temporary) {
      fs.rmSync(vsix.path, { force: true });
      try {
        fs.rmdirSync(path.dirname(vsix.path)); // only when empty: other sessions may still use theirs
      } catch {
        // not empty
      }
    }
    const report = { swept, seconds: (Date.now() - c0) / 1000 };
    fs.writeFileSync(path.join(artifactsDir, 'teardown.json'), JSON.stringify({ ...report, timings }, null, 2));
    return report;
  };

  try {
    const extensionDir = await installExtension(tools, dirs, env, vsix.path, logFile);
    lap('install extension');
    server = await startCodeServer(tools, dirs, env, workspace, logFile);
    lap('start code-server');
    context = await chromium.launchPersistentContext(dirs.browserProfile, {
      executablePath: tools.chromium,
      headless: true,
      args: CHROMIUM_ARGS,
      env: toBrowserEnv(env),
      viewport: opts.viewport ?? { width: 1400, height: 900 },
      // The harness handles signals itself (see onSignal) and kills by group.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    lap('start chromium');
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${server.url}?folder=${encodeURIComponent(workspace)}`, { timeout: 30_000 });
    const workbench = new Workbench(page, artifactsDir);
    await workbench.ready();
    lap('load workbench');
    timings.total = (Date.now() - t0) / 1000;
    return { workbench, page, url: server.url, artifactsDir, workspace, extensionDir, marker, timings, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}

/**
 * Runs `fn` in a fresh session; on failure saves `failure.png` into the
 * artifacts folder, and always tears the session down.
 */
export async function withVsCode<T>(opts: LaunchOptions, fn: (session: VsCodeSession) => Promise<T>): Promise<T> {
  const session = await launchVsCode(opts);
  try {
    return await fn(session);
  } catch (e) {
    await session.workbench.screenshot('failure').catch(() => undefined);
    throw e;
  } finally {
    await session.close();
  }
}
