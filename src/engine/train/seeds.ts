/**
 * Dropout seeds derived from (run seed, step, side, chunk): the gradient
 * cache embeds every chunk twice and must draw the same dropout masks both
 * times; a resumed run must draw the same masks as an uninterrupted one.
 * A pure hash, so no generator state has to be checkpointed for it.
 */

/** Which half of a pair a chunk belongs to. */
export type PairSide = 'query' | 'positive';

function mix32(h: number, value: number): number {
  // murmur3-style absorption of one 32-bit word followed by its finaliser.
  let k = Math.imul(value >>> 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The `dropoutSeed` for one chunk of one side of the batch at `step`. */
export function chunkDropoutSeed(runSeed: number, step: number, side: PairSide, chunkIndex: number): number {
  let h = mix32(0x5eed, runSeed);
  h = mix32(h, step);
  h = mix32(h, Math.floor(step / 2 ** 32));
  h = mix32(h, side === 'query' ? 1 : 2);
  return mix32(h, chunkIndex);
}
