/**
 * Starts code-server (a real VS Code, served to a browser) with the extension
 * under test installed, in folders of its own so that runs never share state
 * with each other or with the machine's user.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { killGroup, MARKER_VAR } from './processes';
import { REPO_ROOT, type E2ETools } from './tools';

/** Switches off what would pop up, phone home or compete with the extension under test. */
export const DEFAULT_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.editor.enablePreview': false,
  'window.restoreWindows': 'none',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'git.openRepositoryInParentFolders': 'never',
  'github.gitAuthentication': false,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'chat.agent.enabled': false,
  'github.copilot.enable': { '*': false },
  'security.workspace.trust.enabled': false,
  'npm.autoDetect': 'off',
  'typescript.tsserver.enable': false,
  'editor.minimap.enabled': false,
  'files.autoSave': 'off',
  'notebook.experimental.generate': false,
};

/** Folders one session writes to; all under its run folder. */
export interface SessionDirs {
  root: string;
  home: string;
  tmp: string;
  xdgConfig: string;
  xdgData: string;
  xdgCache: string;
  extensions: string;
  userData: string;
  browserProfile: string;
}

export function makeSessionDirs(root: string): SessionDirs {
  const d = (name: string) => {
    const p = path.join(root, name);
    fs.mkdirSync(p, { recursive: true });
    return p;
  };
  return {
    root,
    home: d('home'),
    tmp: d('tmp'),
    xdgConfig: d('xdg-config'),
    xdgData: d('xdg-data'),
    xdgCache: d('xdg-cache'),
    extensions: d('extensions'),
    userData: d('user-data'),
    browserProfile: d('browser-profile'),
  };
}

/**
 * The environment of every process the session starts: its own HOME, TMPDIR and
 * XDG folders, Node 24 first on PATH, the teardown marker, and none of the
 * variables that would connect it to an outer VS Code or test runner.
 */
export function sessionEnv(dirs: SessionDirs, tools: E2ETools, marker: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(VSCODE_|ELECTRON_|NODE_TEST_|VEMBED_E2E_)/.test(k) || k === 'NODE_OPTIONS' || k === 'NODE_CHANNEL_FD')
      continue;
    env[k] = v;
  }
  return {
    ...env,
    HOME: dirs.home,
    TMPDIR: dirs.tmp,
    XDG_CONFIG_HOME: dirs.xdgConfig,
    XDG_DATA_HOME: dirs.xdgData,
    XDG_CACHE_HOME: dirs.xdgCache,
    XDG_RUNTIME_DIR: dirs.tmp,
    PATH: `${path.dirname(tools.node)}${path.delimiter}${process.env.PATH ?? ''}`,
    [MARKER_VAR]: marker,
  };
}

export function writeUserSettings(dirs: SessionDirs, extra: Record<string, unknown> = {}): void {
  const dir = path.join(dirs.userData, 'User');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify({ ...DEFAULT_SETTINGS, ...extra }, null, 2));
}

const COMMON_ARGS = (dirs: SessionDirs) => [
  '--config',
  '/dev/null',
  '--extensions-dir',
  dirs.extensions,
  '--user-data-dir',
  dirs.userData,
];

/** Runs a process in its own group to the end, output appended to `logFile`; kills the group on timeout. */
function runToEnd(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  timeoutMs: number,
): Promise<number> {
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { env, detached: true, stdio: ['ignore', fd, fd] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        void killGroup(child.pid!, 500).then(() =>
          reject(
            new Error(
              `${path.basename(args[0] ?? command)} ${args.slice(1, 3).join(' ')} took over ${timeoutMs} ms (log: ${logFile})`,
            ),
          ),
        );
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? (signal ? 128 : 1));
      });
    });
  } finally {
    fs.closeSync(fd);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Installs the .vsix into the session's extensions folder and checks it landed there. */
export async function installExtension(
  tools: E2ETools,
  dirs: SessionDirs,
  env: NodeJS.ProcessEnv,
  vsix: string,
  logFile: string,
): Promise<string> {
  const code = await runToEnd(
    tools.node,
    [tools.codeServerEntry, ...COMMON_ARGS(dirs), '--install-extension', vsix, '--force'],
    env,
    logFile,
    60_000,
  );
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    publisher: string;
    name: string;
  };
  const id = `${manifest.publisher}.${manifest.name}`.toLowerCase();
  const installed = fs.readdirSync(dirs.extensions).find((n) => n.toLowerCase().startsWith(`${id}-`));
  if (code !== 0 || !installed)
    throw new Error(`installing ${vsix} failed (exit ${code}); ${logFile}:\n${tail(logFile)}`);
  return path.join(dirs.extensions, installed);
}

export interface RunningCodeServer {
  url: string;
  /** Process group (= pid of the code-server process). */
  pgid: number;
  stop(): Promise<void>;
}

/** Starts code-server on a free port of 127.0.0.1 and waits until it says where it listens. */
export async function startCodeServer(
  tools: E2ETools,
  dirs: SessionDirs,
  env: NodeJS.ProcessEnv,
  workspace: string,
  logFile: string,
  timeoutMs = 30_000,
): Promise<RunningCodeServer> {
  const args = [
    tools.codeServerEntry,
    ...COMMON_ARGS(dirs),
    '--bind-addr',
    '127.0.0.1:0',
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    workspace,
  ];
  const fd = fs.openSync(logFile, 'a');
  // detached: setsid(), so the server and its children form a group we can kill at once.
  const child = spawn(tools.node, args, { env, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `exit ${code ?? signal}`;
  });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error(`code-server did not start (${tools.node} ${tools.codeServerEntry})`);
  const stop = () => killGroup(pgid);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/?)/.exec(fs.readFileSync(logFile, 'utf8'));
    if (m) return { url: m[1]!.endsWith('/') ? m[1]! : `${m[1]}/`, pgid, stop };
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `code-server ${exited ? `stopped (${exited})` : `gave no URL within ${timeoutMs} ms`}; ${logFile}:\n${tail(logFile)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
