/** Messages between the parallel embedder (parallelEmbed.ts) and its worker threads (embedWorker.ts). */
import type { EncoderSnapshot } from '../model/snapshot';

export interface EmbedWorkerInit {
  snapshot: EncoderSnapshot;
}

export type EmbedRequest =
  { type: 'embed'; id: number; data: Float32Array; n: number; size: number } | { type: 'memory'; id: number };

export type EmbedReply =
  | { type: 'ready'; device: string }
  | { type: 'embedded'; id: number; data: Float32Array }
  | { type: 'memory'; id: number; wasmHeapBytes: number; tfBytes: number }
  | { type: 'error'; id?: number; message: string; stack?: string };
