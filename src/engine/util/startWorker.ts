/**
 * Start one of the engine's worker threads. Bundled, its code is a file next
 * to the engine bundle (dist/engine/); from source (tests, scripts under tsx),
 * it is the TypeScript module, loaded through tsx's CommonJS hook in the new
 * thread (`--import tsx` does not reach a worker's entry module on Node 20).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * `callerDir` is the caller's `__dirname`: the bundle folder when bundled,
 * the source folder otherwise.
 */
export function startWorker(callerDir: string, bundledFile: string, sourceFile: string, workerData: unknown): Worker {
  const bundled = path.join(callerDir, bundledFile);
  if (fs.existsSync(bundled)) return new Worker(bundled, { workerData });
  const source = path.join(callerDir, sourceFile);
  if (fs.existsSync(source)) {
    // Resolved at run time: createRequire keeps esbuild from trying to bundle tsx, a dev dependency.
    const tsxCjs = createRequire(__filename).resolve('tsx/cjs');
    return new Worker(`require(${JSON.stringify(tsxCjs)});\nrequire(${JSON.stringify(source)});`, {
      eval: true,
      workerData,
    });
  }
  throw new Error(`worker not found: expected ${bundled} (run \`npm run build\`) or ${source}`);
}
