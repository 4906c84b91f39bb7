/**
 * The torch engine's Python package (python/): its unit tests (pytest) and its linter and formatter (ruff), run in
 * the environment of scripts/python/setup.sh, so `npm test` runs them with everything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { referencePython } from '../helpers/python';

const PACKAGE = path.resolve(__dirname, '../../python');

function run(args: string[]): { code: number | null; output: string } {
  const r = spawnSync(referencePython(), args, {
    cwd: PACKAGE,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  return { code: r.status, output: `${r.stdout}\n${r.stderr}` };
}

test('pytest: python/tests pass', () => {
  const r = run(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /\d+ passed/);
});

test('ruff: python/ is lint-clean and formatted', () => {
  const check = run(['-m', 'ruff', 'check', '--no-cache', '.']);
  assert.equal(check.code, 0, check.output);
  const format = run(['-m', 'ruff', 'format', '--check', '--no-cache', '.']);
  assert.equal(format.code, 0, format.output);
});
