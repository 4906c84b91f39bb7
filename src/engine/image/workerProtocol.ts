/** Messages between the image loader (main thread) and its worker threads. */
import type { ImageJob, PipelineSettings } from './transform';

export interface WorkerInit {
  settings: PipelineSettings;
  /** Tasks a worker works on at once: one decoding while another is transformed. */
  maxActive: number;
}

/** A decoded image in shared memory, so the cache can hand it to any worker without copying. */
export interface SharedRgbImage {
  buffer: SharedArrayBuffer;
  width: number;
  height: number;
}

export interface TaskMessage {
  id: number;
  job: ImageJob;
  /** The decoded image from the cache, if it is there. */
  cached?: SharedRgbImage;
  /** Return the decoded image (in shared memory) so the loader can cache it. */
  returnDecoded: boolean;
}

export type ResultMessage =
  | { id: number; ok: true; pixels: Float32Array; decoded?: SharedRgbImage }
  | { id: number; ok: false; path: string; reason: string };
