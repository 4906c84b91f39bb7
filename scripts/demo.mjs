// `npm run demo`: the README's main job. Until training lands (issue #4) it
// shows what works today: config validation and the compute backend.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vembed = (args) => spawnSync(process.execPath, [path.join(root, 'bin/vembed.js'), ...args], { cwd: root, stdio: 'inherit' }).status;

console.log('== vembed doctor');
if (vembed(['doctor']) !== 0) process.exit(1);
console.log('\n== vembed validate examples/dinov2_i2i.yaml');
if (vembed(['validate', 'examples/dinov2_i2i.yaml']) !== 0) process.exit(1);
console.log('\nThe fine-tuning demo on the built-in sample data is not implemented yet (issue #4).');
