/**
 * Embedding a list of images with an encoder: the shared path of evaluation,
 * `embed`, `index build` and `search`. Large lists are embedded on every core
 * (parallelEmbed.ts); the result is the same either way, bit for bit.
 */
import type { ImageEncoder, PixelBatch } from '../model/types';
import { Dinov2ImageEncoder } from '../model/encoder';
import type { ImageLoader } from '../image/loader';
import { prefetchBatches } from '../image/prefetch';
import { embedPixels } from './embedPixels';
import {
  embedBatchesInParallel,
  embeddingThreads,
  startEmbedWorkers,
  type BatchJob,
  type ThreadRequest,
} from './parallelEmbed';

export interface EmbedOptions {
  batchSize: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /**
   * Worker threads that embed batches in parallel, each with its own copy of
   * the model. Default: the process-wide choice (backend/threads.ts); 'auto':
   * one per core on the wasm backend when the list is long enough to pay for
   * starting them; 0 or 1: this thread only.
   */
  threads?: ThreadRequest;
  /**
   * Embeds a preprocessed batch instead of the encoder's TF.js forward pass
   * (ONNX Runtime: onnx/embedder.ts); it uses the cores itself, so no
   * embedding workers are started.
   */
  pixelEmbedder?: (pixels: PixelBatch) => Promise<Float32Array>;
  /** Told when workers were wanted but some or all could not start or failed (the work goes on without them). */
  onNote?: (message: string) => void;
}

/** [N, D] row-major embeddings (pooled, not normalised), in the order of `paths`. */
export async function embedImages(
  encoder: ImageEncoder,
  loader: ImageLoader,
  paths: readonly string[],
  options: EmbedOptions,
): Promise<Float32Array> {
  const d = encoder.embeddingDim;
  const out = new Float32Array(paths.length * d);
  const batches: BatchJob[] = [];
  for (let start = 0; start < paths.length; start += options.batchSize)
    batches.push({ start, count: Math.min(options.batchSize, paths.length - start) });
  const load = (b: BatchJob): Promise<PixelBatch> =>
    loader.load(
      paths.slice(b.start, b.start + b.count).map((p) => ({ path: p, transform: { kind: 'eval' as const } })),
    );
  let done = 0;
  const batchDone = (b: BatchJob): void => {
    done += b.count;
    options.onProgress?.(done, paths.length);
  };
  const checkAbort = (): void => {
    if (options.signal?.aborted) throw new EmbeddingAborted();
  };
  const note = options.onNote ?? ((message: string) => process.emitWarning(message, { code: 'VEMBED_EMBED_WORKERS' }));

  const threads = options.pixelEmbedder ? 0 : embeddingThreads(options.threads, encoder, paths.length, batches.length);
  const embedHere = options.pixelEmbedder ?? ((px: PixelBatch) => embedPixels(encoder, px));
  if (threads > 1 && encoder instanceof Dinov2ImageEncoder) {
    const { workers, notes } = await startEmbedWorkers(encoder, threads);
    if (notes.length > 0)
      note(
        `${notes.length} of ${threads} embedding worker(s) did not start (${notes[0]}); ${workers.length > 0 ? `embedding with ${workers.length}` : 'embedding on the main thread'}`,
      );
    if (workers.length > 0) {
      try {
        await embedBatchesInParallel({
          workers,
          batches,
          load,
          embedHere: (px) => embedPixels(encoder, px),
          out,
          dim: d,
          onBatchDone: batchDone,
          onNote: note,
          checkAbort,
        });
        return out;
      } finally {
        await Promise.all(workers.map((w) => w.close()));
      }
    }
  }

  // Decode the next batch in the loader's workers while this one runs through the model.
  for await (const { b, pixels } of prefetchBatches(batches, async (b) => ({ b, pixels: await load(b) }))) {
    checkAbort();
    out.set(await embedHere(pixels), b.start * d);
    batchDone(b);
  }
  return out;
}

export class EmbeddingAborted extends Error {
  constructor() {
    super('embedding stopped by a signal');
  }
}
