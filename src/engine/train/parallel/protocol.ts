/** Messages between the parallel gradient cache (lanes.ts) and its worker threads (worker.ts). */
import type { EncoderSnapshot } from '../../model/snapshot';
import type { PairSide } from '../seeds';

export interface GradientWorkerInit {
  snapshot: EncoderSnapshot;
}

/** What every chunk computation of one step shares (GradientOptions without the loss). */
export interface ChunkSettings {
  training: boolean;
  seed: number;
  step: number;
}

export interface EmbedJob {
  side: PairSide;
  /** The chunk's index within its side (picks its dropout seed). */
  index: number;
  /** [count, height, width, 3] */
  pixels: Float32Array;
  count: number;
  height: number;
  width: number;
}

/** A chunk again, with its slice of dLoss/dEmbedding ([count, D]). */
export interface BackwardJob extends EmbedJob {
  upstream: Float32Array;
}

export type GradientRequest =
  | { type: 'sync'; values: Map<string, Float32Array> }
  | { type: 'embed'; settings: ChunkSettings; job: EmbedJob }
  /** Back-propagate a chunk and add its parameter gradients to the worker's running sums. */
  | { type: 'backward'; settings: ChunkSettings; job: BackwardJob }
  /** Hand the running sums over (and start new ones). */
  | { type: 'collect' }
  | { type: 'memory' };

export type GradientReply =
  | { type: 'ready' }
  | { type: 'synced' }
  | { type: 'embedded'; embedding: Float32Array }
  | { type: 'accumulated' }
  | { type: 'gradients'; grads: Map<string, Float32Array> }
  | { type: 'memory'; wasmHeapBytes: number; tfBytes: number }
  | { type: 'error'; message: string; stack?: string };
