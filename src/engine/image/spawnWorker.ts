/** The image worker: `image-worker.js` next to the engine bundle, or worker.ts from source. */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/startWorker';
import type { WorkerInit } from './workerProtocol';

export const BUNDLED_WORKER_FILE = 'image-worker.js';

export function spawnImageWorker(init: WorkerInit): Worker {
  return startWorker(__dirname, BUNDLED_WORKER_FILE, 'worker.ts', init);
}
