// `vembed validate` as a user runs it on vembed-factory's DINOv2 image-to-image config (written by the test in that
// config's shape): exit 0, warnings only, each naming its line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SEED_DINOV2_I2I } from '../../helpers/seedToolConfigs';

const root = path.resolve(__dirname, '../../..');
let dir = '';
before(() => {
  assert.ok(fs.existsSync(path.join(root, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-seed-cfg-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("vembed validate: vembed-factory's dinov2_i2i.yaml gives warnings only", () => {
  const file = path.join(dir, 'dinov2_i2i.yaml');
  fs.writeFileSync(file, SEED_DINOV2_I2I + '\n');
  const r = spawnSync(process.execPath, [path.join(root, 'bin/vembed.js'), 'validate', file], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /0 error\(s\)/);
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => /^.+:\d+:\d+: /.test(l) && l.startsWith(file));
  assert.ok(
    lines.every((l) => / warning: /.test(l)),
    lines.join('\n'),
  );
  const named = (key: string) => lines.some((l) => new RegExp(`^${file}:\\d+:\\d+: warning: \`${key}`).test(l));
  for (const key of ['encoder_mode: dino', 'pin_memory', 'prefetch_factor', 'persistent_workers'])
    assert.ok(named(key), `${key} not warned about:\n${lines.join('\n')}`);
});
