// Runs every test file under test/ (or those given as arguments) with Node's
// built-in test runner, TypeScript loaded through tsx.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

function findTests(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    // End-to-end tests need code-server and Chromium: `npm run test:e2e` runs them.
    else if (/\.test\.ts$/.test(entry.name) && !/\.e2e\.test\.ts$/.test(entry.name)) out.push(p);
  }
  return out.sort();
}

const args = process.argv.slice(2);
const files =
  args.length > 0 ? args.flatMap((a) => (fs.statSync(a).isDirectory() ? findTests(a) : [a])) : findTests('test');
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
