// File-system failures become user errors that name the path and say what to do (issue 21).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkWritableDir, fileSystemUserError, makeDirs } from '../../../src/shared/fs/makeDirs';
import { UserError } from '../../../src/shared/userError';

test('a real ENOSPC (writing /dev/full) names the path and says to free space', (t) => {
  if (!fs.existsSync('/dev/full')) return t.skip('no /dev/full here');
  let raw: unknown;
  const fd = fs.openSync('/dev/full', 'w');
  try {
    fs.writeSync(fd, Buffer.alloc(16));
  } catch (e) {
    raw = e;
  } finally {
    fs.closeSync(fd);
  }
  assert.equal((raw as NodeJS.ErrnoException).code, 'ENOSPC');
  const u = fileSystemUserError(raw, '/runs/out/checkpoint-step-3');
  assert.ok(u instanceof UserError);
  assert.match(u.message, /no space left on the device holding \/runs\/out\/checkpoint-step-3 \(ENOSPC in write\)/);
  assert.match(u.hint ?? '', /Free some space/);
  assert.equal(fileSystemUserError(new Error('something else')), undefined, 'other errors stay internal');
});

test('makeDirs: nested folders are made; /proc, a file in the way and a read-only folder are user errors, at once', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-mkdirs-'));
  try {
    makeDirs(path.join(dir, 'a', 'b', 'c'));
    assert.ok(fs.statSync(path.join(dir, 'a', 'b', 'c')).isDirectory());
    makeDirs(path.join(dir, 'a', 'b', 'c'));
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    assert.throws(
      () => makeDirs(path.join(dir, 'f', 'g', 'h')),
      (e: unknown) => e instanceof UserError && /f is a file, not a folder/.test(e.message),
    );
    const started = Date.now();
    assert.throws(
      () => makeDirs('/proc/vembed-test/a/b'),
      (e: unknown) => e instanceof UserError && /\/proc\/vembed-test/.test(e.message),
    );
    assert.ok(Date.now() - started < 2000);
    if (process.getuid?.() === 0) return t.diagnostic('root ignores permissions: read-only case skipped');
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, { mode: 0o555 });
    assert.throws(
      () => checkWritableDir(path.join(ro, 'out')),
      (e: unknown) => e instanceof UserError && /permission denied/.test(e.message),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
