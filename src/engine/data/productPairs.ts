/**
 * Images of products to query/positive pairs, and the JSONL they are written
 * as: the one pairing rule of `prepare-sop` (SOP's lists) and `prepare-data`
 * (a user's folders or CSV). Each image is a query paired with another image
 * of its product, drawn by a seeded RNG; a product with a single image pairs
 * with itself.
 */
import type { Rng } from '../util/rng';
import type { Label } from './pairDataset';

export interface ProductImage {
  /** As written into the JSONL: relative to the image root, forward slashes. */
  path: string;
  product: Label;
  /** The product's category, for batches of similar products (`group_by_super_label`); null when none. */
  superLabel: Label | null;
}

export interface ProductPair {
  query_image: string;
  positive: string;
  label: Label;
  super_label?: Label;
}

/**
 * Deterministic for a given RNG state and image order: images are visited in
 * order, and each draws once from the RNG unless its product has one image.
 */
export function pairProductImages(images: readonly ProductImage[], rng: Rng): ProductPair[] {
  const byProduct = new Map<Label, ProductImage[]>();
  for (const img of images) {
    const group = byProduct.get(img.product);
    if (group) group.push(img);
    else byProduct.set(img.product, [img]);
  }
  const indexInGroup = new Map<ProductImage, number>();
  for (const group of byProduct.values()) group.forEach((img, i) => indexInGroup.set(img, i));

  return images.map((img) => {
    const group = byProduct.get(img.product)!;
    let positive = img;
    if (group.length > 1) {
      // Draw among the others: an index in [0, n-1), shifted past the query itself.
      const self = indexInGroup.get(img)!;
      const j = rng.int(group.length - 1);
      positive = group[j >= self ? j + 1 : j]!;
    }
    return {
      query_image: img.path,
      positive: positive.path,
      label: img.product,
      ...(img.superLabel !== null ? { super_label: img.superLabel } : {}),
    };
  });
}

/** One JSON object a line, keys in the order the Python tool writes them. */
export function pairsToJsonl(pairs: readonly ProductPair[]): string {
  return (
    pairs
      .map((p) =>
        JSON.stringify({
          query_image: p.query_image,
          positive: p.positive,
          label: p.label,
          ...(p.super_label !== undefined ? { super_label: p.super_label } : {}),
        }),
      )
      .join('\n') + (pairs.length ? '\n' : '')
  );
}
