/**
 * Thumbnails for the panel, made with sharp and cached on disk.
 *
 * The cache lives in one folder (the extension's global storage) shared by
 * all runs: runs over the same dataset show the same images, so each image is
 * shrunk once. A thumbnail's name hashes the image's absolute path, size and
 * modification time, so an edited image gets a new thumbnail and a stale one
 * is never served. Files are written to a temporary name and renamed, so a
 * reader never sees half a thumbnail.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

export interface ThumbnailOptions {
  /** Longest edge in pixels (the grid shows ~130 CSS px; 2x for high-DPI screens). */
  edge?: number;
  /** Images decoded at once: each holds a full-size decoded image in memory. */
  concurrency?: number;
}

/** Decoding limit: a decompression bomb fails instead of taking the extension host's memory. */
const MAX_INPUT_PIXELS = 100_000_000;

export class ThumbnailCache {
  readonly edge: number;
  private readonly concurrency: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    readonly dir: string,
    options: ThumbnailOptions = {},
  ) {
    this.edge = options.edge ?? 256;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
  }

  /** Path of the thumbnail of `imagePath` (made now if needed). Rejects with a message naming the image. */
  async thumbnail(imagePath: string): Promise<string> {
    const abs = path.resolve(imagePath);
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(abs);
    } catch {
      throw new Error(`cannot make a thumbnail of ${abs}: file not found`);
    }
    const key = createHash('sha256')
      .update(`v1\0${abs}\0${stat.size}\0${stat.mtimeMs}\0${this.edge}`)
      .digest('hex')
      .slice(0, 40);
    const target = path.join(this.dir, key.slice(0, 2), `${key}.webp`);
    const pending = this.inFlight.get(target);
    if (pending) return pending;
    const job = this.make(abs, target).finally(() => this.inFlight.delete(target));
    this.inFlight.set(target, job);
    return job;
  }

  private async make(abs: string, target: string): Promise<string> {
    if (fs.existsSync(target)) return target;
    await this.acquire();
    try {
      let data: Buffer;
      try {
        data = await sharp(abs, { limitInputPixels: MAX_INPUT_PIXELS })
          .rotate() // EXIF orientation, so phone photos stand upright
          .resize({ width: this.edge, height: this.edge, fit: 'inside', withoutEnlargement: true })
          .webp({ quality: 75 })
          .toBuffer();
      } catch (e) {
        throw new Error(`cannot make a thumbnail of ${abs}: ${firstLine((e as Error).message)}`, { cause: e });
      }
      await writeAtomic(target, data);
      return target;
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? s
  );
}

/**
 * Temporary file in the same folder, then rename: concurrent writers of the same thumbnail both end with a whole file.
 */
async function writeAtomic(target: string, data: Uint8Array): Promise<void> {
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const tmp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`,
  );
  try {
    await fs.promises.writeFile(tmp, data);
    await fs.promises.rename(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}
