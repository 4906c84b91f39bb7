/**
 * Splitting a user's products into train and validation: by product (no
 * product has images on both sides, as in SOP, so validation measures
 * retrieval of unseen products), seeded, by a ratio or a count of
 * validation products.
 */
import type { Rng } from '../util/rng';
import type { Label } from './pairDataset';

export type ValSize = { ratio: number } | { products: number };

/** How many of `total` products go to validation; throws a plain message when that leaves a side empty. */
export function valProductCount(total: number, size: ValSize): number {
  if (total < 2) throw new RangeError(`only ${total} product(s): a split needs at least 2 (one on each side)`);
  if ('products' in size) {
    if (!Number.isInteger(size.products) || size.products < 1 || size.products > total - 1)
      throw new RangeError(`--val_products must be between 1 and ${total - 1} (there are ${total} products)`);
    return size.products;
  }
  if (!(size.ratio > 0 && size.ratio < 1)) throw new RangeError(`--val_ratio must be between 0 and 1 (exclusive)`);
  // Rounded, but never 0 or all of them: both splits hold at least one product.
  return Math.min(total - 1, Math.max(1, Math.round(total * size.ratio)));
}

/**
 * The validation products: a seeded shuffle of the products (in their
 * first-seen order, so the result depends only on the data, the size and the
 * seed), then the first `valProductCount` of it.
 */
export function chooseValProducts(products: readonly Label[], size: ValSize, rng: Rng): Set<Label> {
  const n = valProductCount(products.length, size);
  return new Set(rng.shuffle([...products]).slice(0, n));
}
