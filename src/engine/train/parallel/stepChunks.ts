/**
 * One step's chunks for the gradient lanes: the batch cut into chunks
 * (queries first, then positives), dealt to the lanes in turn (chunk j to
 * lane j mod lanes, lane 0 the main thread), and their pixels loaded once per
 * pass, when the first lane asks for them.
 */
import type { PixelBatch } from '../../model/types';
import { chunkPixels, chunkRanges, type AnyPixelSource, type ChunkRange } from '../pixels';
import type { PairSide } from '../seeds';
import type { EmbedJob } from './protocol';

export interface StepChunk {
  side: PairSide;
  range: ChunkRange;
}

/** A chunk's pixels could not be loaded: the step fails (the worker that wanted them is fine). */
export class ChunkLoadError extends Error {
  constructor(readonly original: unknown) {
    super((original as Error)?.message ?? String(original));
  }
}

/** One pass over the chunks (embedding, then back-propagation): each chunk's pixels loaded once. */
export class ChunkPass {
  private readonly loading = new Map<number, Promise<PixelBatch>>();

  constructor(private readonly step: StepChunks) {}

  /** Starts loading chunk j, if not started. */
  prefetch(j: number): void {
    void this.start(j);
  }

  /** Chunk j's pixels, for the lane that computes it. */
  take(j: number): Promise<PixelBatch> {
    const p = this.start(j);
    this.loading.delete(j);
    return p;
  }

  /**
   * When a worker is sent chunk j of its lane `mine`, start loading the chunk
   * it gets `window` later: a load finishes on the image workers, but this
   * thread only sees it between two of its own chunks, and the worker should
   * not wait for that.
   */
  loadAhead(mine: readonly number[], j: number, window: number): void {
    const next = mine[mine.indexOf(j) + window];
    if (next !== undefined) this.prefetch(next);
  }

  private start(j: number): Promise<PixelBatch> {
    let p = this.loading.get(j);
    if (!p) {
      const c = this.step.chunks[j]!;
      p = chunkPixels(this.step.sources[c.side], c.range.start, c.range.count, `${c.side} images`).catch(
        (e: unknown) => {
          throw new ChunkLoadError(e);
        },
      );
      p.catch(() => undefined); // awaited by take()
      this.loading.set(j, p);
    }
    return p;
  }
}

export class StepChunks {
  readonly chunks: StepChunk[] = [];
  /** The chunk indices of each lane, lane 0 first. */
  readonly lanes: number[][];

  constructor(
    readonly sources: Record<PairSide, AnyPixelSource>,
    chunkSize: number,
    laneCount: number,
  ) {
    for (const side of ['query', 'positive'] as const)
      for (const range of chunkRanges(sources[side].n, chunkSize)) this.chunks.push({ side, range });
    this.lanes = Array.from({ length: laneCount }, (_, lane) =>
      this.chunks.map((_, j) => j).filter((j) => j % laneCount === lane),
    );
  }

  pass(): ChunkPass {
    return new ChunkPass(this);
  }

  /** Chunk j's loaded pixels as a source of their own (the chunk keeps its index, which picks its dropout seed). */
  ownSource(px: PixelBatch, j: number): { source: PixelBatch; side: PairSide; range: ChunkRange } {
    const c = this.chunks[j]!;
    return { source: px, side: c.side, range: { index: c.range.index, start: 0, count: c.range.count } };
  }

  /**
   * Chunk j's pixels for a worker. Copied: a view would take its whole buffer
   * along (postMessage clones a typed array's entire buffer).
   */
  embedJob(px: PixelBatch, j: number): EmbedJob {
    const c = this.chunks[j]!;
    const pixels =
      px.data.byteOffset === 0 && px.data.length === px.data.buffer.byteLength / 4 ? px.data : px.data.slice();
    return {
      side: c.side,
      index: c.range.index,
      pixels,
      count: c.range.count,
      height: px.height,
      width: px.width,
    };
  }
}
