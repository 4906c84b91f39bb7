/**
 * Where the image worker's code is. Bundled, it is `image-worker.js` next to
 * the engine bundle (dist/engine/). From source (tests, scripts under tsx),
 * it is worker.ts, loaded through tsx's CommonJS hook in the new thread.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { WorkerInit } from './workerProtocol';

export const BUNDLED_WORKER_FILE = 'image-worker.js';

export function spawnImageWorker(init: WorkerInit): Worker {
  const bundled = path.join(__dirname, BUNDLED_WORKER_FILE);
  if (fs.existsSync(bundled)) return new Worker(bundled, { workerData: init });
  const source = path.join(__dirname, 'worker.ts');
  if (fs.existsSync(source)) {
    // `--import tsx` in execArgv does not reach a worker's entry module on
    // Node 20, so a tiny bootstrap registers tsx's require hook first.
    // Resolved at run time (createRequire keeps esbuild from trying to bundle tsx, a dev dependency).
    const tsxCjs = createRequire(__filename).resolve('tsx/cjs');
    return new Worker(`require(${JSON.stringify(tsxCjs)});\nrequire(${JSON.stringify(source)});`, { eval: true, workerData: init });
  }
  throw new Error(`image worker not found: expected ${bundled} (run \`npm run build\`) or ${source}`);
}
