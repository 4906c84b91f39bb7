/** Messages between the all-against-all coordinator and its worker threads. */
import type { BlockTask } from './blockPlan';
import type { ClassPairs, EngineState } from './allPairsEngine';

export type WorkerRequest =
  { type: 'task'; task: BlockTask } | { type: 'members'; score: Float32Array; id: Int32Array } | { type: 'finish' };

export type WorkerReply =
  | { type: 'ready'; device: string }
  | { type: 'done'; pairs: ClassPairs | undefined }
  | { type: 'members-set' }
  | { type: 'state'; state: EngineState }
  | { type: 'error'; message: string; stack?: string };
