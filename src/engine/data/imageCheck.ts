/**
 * Up-front check of image files: each exists and has a header sharp can
 * decode. Run before training so a bad file is reported with the records
 * that use it, not hours later in the middle of an epoch.
 */
import { ImageReadError, probeImage } from '../image/decode';

export interface ImageCheckOptions {
  /** Files checked at once (sharp reads headers on libuv's thread pool). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The paths that failed, each with its reason. Each distinct path is checked once. */
export async function checkImageFiles(paths: Iterable<string>, options: ImageCheckOptions = {}): Promise<Map<string, string>> {
  const unique = [...new Set(paths)];
  const failures = new Map<string, string>();
  const concurrency = Math.max(1, options.concurrency ?? 16);
  let next = 0;
  let done = 0;
  const progressEvery = Math.max(1, Math.floor(unique.length / 100));
  const worker = async () => {
    while (next < unique.length) {
      if (options.signal?.aborted) throw new Error('image check aborted');
      const p = unique[next++]!;
      try {
        await probeImage(p);
      } catch (e) {
        failures.set(p, e instanceof ImageReadError ? e.reason : (e as Error).message);
      }
      done++;
      if (options.onProgress && (done % progressEvery === 0 || done === unique.length)) options.onProgress(done, unique.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, unique.length) }, worker));
  return failures;
}
