/**
 * Two real short training runs (tiny random DINOv2, 24 pairs, 2 epochs; ~5 s
 * each) that differ in one config key, made once per test file by the built
 * engine: what the run summary, compare, delete and CLI tests read.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { SharedRunData } from '../../engine/run/fixtures';

export const BIN = path.resolve(__dirname, '../../../bin/vembed.js');

export interface RealRuns {
  data: SharedRunData;
  /** Output folders of the two runs: learning_rate 0.001 and 0.01, all else equal. */
  a: string;
  b: string;
}

export function train(dir: string, config: string): void {
  const r = spawnSync(process.execPath, [BIN, 'train', '--config', config], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`vembed train failed in ${dir}:\n${r.stdout}\n${r.stderr}`);
}

export async function makeRealRuns(tag: string): Promise<RealRuns> {
  const data = await SharedRunData.create(tag);
  const a = data.runDir('a', { learning_rate: 0.001 });
  const b = data.runDir('b', { learning_rate: 0.01 });
  train(a.dir, a.config);
  train(b.dir, b.config);
  return { data, a: path.join(a.dir, 'out'), b: path.join(b.dir, 'out') };
}
