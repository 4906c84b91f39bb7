// Runs the end-to-end suite: packages the extension once, then runs
// test/e2e/*.e2e.test.ts (or the files given) one file at a time, each against
// a fresh code-server + Chromium. Needs scripts/e2e/setup.sh to have run.
//
//   node scripts/e2e/run.mjs [test files...]
//
// Afterwards it checks that no process started by the suite is still alive.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const t0 = Date.now();
const seconds = () => ((Date.now() - t0) / 1000).toFixed(1);

const cache =
  process.env.VEMBED_E2E_CACHE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'vembed-e2e');
if (!fs.existsSync(path.join(cache, 'paths.json'))) {
  console.error(`e2e: ${path.join(cache, 'paths.json')} is missing: run scripts/e2e/setup.sh first`);
  process.exit(1);
}

const args = process.argv.slice(2);
const files =
  args.length > 0
    ? args
    : fs
        .readdirSync(path.join(root, 'test/e2e'))
        .filter((f) => f.endsWith('.e2e.test.ts'))
        .sort()
        .map((f) => path.join('test/e2e', f));
if (files.length === 0) {
  console.error('e2e: no test/e2e/*.e2e.test.ts files');
  process.exit(1);
}

const vsix = path.join(root, '.test-output', 'e2e', 'vembed-under-test.vsix');
const pack = spawnSync(process.execPath, [path.join(root, 'scripts/package.mjs'), '--out', vsix], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
});
if (pack.status !== 0) {
  process.stdout.write(pack.stdout);
  console.error('e2e: packaging failed');
  process.exit(1);
}
// vsce's file tree is noise here; keep its summary lines.
for (const line of pack.stdout.split('\n')) if (line.startsWith('package:')) console.log(line);
console.log(`e2e: packaged in ${seconds()} s`);

// Ends every session marker of this run (see test/e2e/harness/processes.ts).
const runId = `run${process.pid}x${Date.now().toString(36)}`;
const run = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, VEMBED_E2E_VSIX: vsix, VEMBED_E2E_REQUIRED: '1', VEMBED_E2E_RUN: runId },
  },
);

// Every process the harness starts carries VEMBED_E2E_OWNER=<pid>:<random>:<run id> in its environment.
const leftovers = [];
for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
  try {
    if (
      fs
        .readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .some((e) => e.startsWith('VEMBED_E2E_OWNER=') && e.endsWith(`:${runId}`))
    ) {
      leftovers.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 120)}`);
      process.kill(Number(pid), 'SIGKILL'); // reported below as a failure, but not left running
    }
  } catch {
    // exited, or not readable
  }
}
if (leftovers.length > 0) {
  console.error(`e2e: ${leftovers.length} process(es) left behind (now killed):\n  ${leftovers.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `e2e: ${run.status === 0 ? 'passed' : 'FAILED'} in ${seconds()} s, no process left behind; artifacts in .test-output/e2e/`,
);
process.exit(run.status ?? 1);
