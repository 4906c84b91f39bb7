/**
 * Up-front check of image files: each exists and decodes, fully, through the
 * same pipeline training uses (decodeImage). A header alone is not enough: a
 * truncated JPEG has a good header and fails only when its pixels are read.
 * Run before training so a bad file is reported with the records that use it,
 * not in the middle of an epoch.
 */
import { decodeImage, ImageReadError, probeImage } from '../image/decode';

export interface ImageCheckOptions {
  /** Files checked at once (sharp reads headers on libuv's thread pool). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The paths that failed, each with its reason. Each distinct path is checked once. */
export async function checkImageFiles(
  paths: Iterable<string>,
  options: ImageCheckOptions = {},
): Promise<Map<string, string>> {
  const unique = [...new Set(paths)];
  const failures = new Map<string, string>();
  const concurrency = Math.max(1, options.concurrency ?? 16);
  let next = 0;
  let done = 0;
  const progressEvery = Math.max(1, Math.floor(unique.length / 100));
  // Failures whose reason libvips lost (see below), decoded again once this check's other decodes are done.
  const unclear: string[] = [];
  const worker = async () => {
    while (next < unique.length) {
      if (options.signal?.aborted) throw new ImageCheckAborted();
      const p = unique[next++]!;
      try {
        // The header first: a missing file or an oversized image is named without decoding.
        await probeImage(p);
        await decodeImage(p);
      } catch (e) {
        const reason = e instanceof ImageReadError ? e.reason : (e as Error).message;
        failures.set(p, reason);
        if (isUnknownError(reason)) unclear.push(p);
      }
      done++;
      if (options.onProgress && (done % progressEvery === 0 || done === unique.length))
        options.onProgress(done, unique.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, unique.length) }, worker));
  // libvips keeps one error buffer for the process: a decode running at the same time (another file of
  // this check, the training loader's) can clear it, leaving "Unknown error". Again, one at a time, a
  // few times, for the reason.
  for (const p of unclear) {
    for (let retry = 0; retry < 3 && isUnknownError(failures.get(p)!); retry++) {
      const again = await decodeImage(p).then(
        () => null,
        (e: unknown) => (e instanceof ImageReadError ? e.reason : null),
      );
      if (again) failures.set(p, again);
    }
  }
  return failures;
}

function isUnknownError(reason: string): boolean {
  return /^unknown error$/i.test(reason.trim());
}

/** The check was stopped through its signal (Ctrl+C): a stop, not a failure. */
export class ImageCheckAborted extends Error {
  constructor() {
    super('image check stopped');
    this.name = 'ImageCheckAborted';
  }
}
