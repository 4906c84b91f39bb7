/**
 * One run per output folder: a lock file holding the owner's pid. A lock left
 * by a process that no longer exists (a crash, kill -9) is taken over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDirs } from '../../shared/fs/makeDirs';
import { UserError } from '../../shared/userError';
import { processAlive } from '../../shared/processAlive';
// The lock's name lives in src/shared/runs, where readers tell a run in progress from an interrupted one by the
// same rule (processAlive).
import { RUN_LOCK_FILE as LOCK_FILE } from '../../shared/runs/runFolder';

export { LOCK_FILE };

export function acquireRunLock(outputDir: string): () => void {
  makeDirs(outputDir);
  const file = path.join(outputDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid, started: new Date().toISOString() }), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = 0;
      try {
        pid = Number(JSON.parse(fs.readFileSync(file, 'utf8')).pid);
      } catch {
        // unreadable: treat as stale
      }
      if (pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new UserError(
          `another run (pid ${pid}) is using ${outputDir}`,
          'Stop it first, or set a different output_dir.',
          'run-in-progress',
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new UserError(
    `could not lock ${outputDir}`,
    `Remove ${file} if no run is using the folder.`,
    'run-in-progress',
  );
}
