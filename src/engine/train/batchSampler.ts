/**
 * The `m_per_product` batch sampler: each batch holds `m` pairs of each of its
 * products, and (with super labels) products of one super class, so that the
 * in-batch negatives of the contrastive loss are similar products instead of
 * random ones. With product neighbours (hard-negative mining) the products of
 * a batch are moreover each other's nearest products.
 *
 * The loss stays correct with several pairs of a product in a batch because
 * it is label-aware (train/loss/common.ts sameLabelMask): every pair with the
 * same label is a positive of the query, never a negative. That also covers an
 * image that appears twice in a batch (as one pair's positive and another's
 * query): both copies carry the product's label.
 *
 * Epoch definition (the same as the random sampler's): an epoch uses every
 * pair at most once and exactly floor(N / batch_size) * batch_size of them;
 * the fewer than batch_size left over are dropped, and which ones depends on
 * (seed, epoch). The order is a pure function of (records, options, seed,
 * epoch, neighbours), so a resumed run sees the batches an uninterrupted one
 * would have.
 */
import { defaultConfig, type TrainConfig } from '../../shared/config/schema';
import type { Label } from '../data/pairDataset';
import { Rng } from '../util/rng';

/** What the sampler reads of a record. */
export interface SamplerRecord {
  label: Label | null;
  superLabel?: Label | null;
}

export interface MPerProductOptions {
  batchSize: number;
  /** Pairs of one product per batch (m). */
  imagesPerProduct: number;
  /** Keep a batch's products within one super label (where the super class has enough pairs). */
  groupBySuperLabel: boolean;
  seed: number;
  /**
   * Hard-negative mining: for a product (its index in productsOf's order),
   * the other products nearest to it, nearest first. Consecutive products
   * then follow these lists, so a batch holds mutually confusable products.
   */
  neighbours?: ReadonlyMap<number, readonly number[]>;
}

export interface ProductTable {
  /** Record indices of each product, in record order. */
  members: number[][];
  /** The super-label group of each product (index into groups). */
  groupOf: number[];
  /** Products of each super-label group, in order of first appearance. */
  groups: number[][];
  /** The product index of each record. */
  productOfRecord: Int32Array;
}

/** A key that keeps the number 7 and the text "7" apart, as denseLabelIds does. */
const keyOf = (l: Label): string => `${typeof l}:${l}`;

/**
 * Products (by label) and their super-label groups, in order of first
 * appearance. A record without a label is a product of its own; products
 * without a super label share one group. Without grouping, one group.
 */
export function productsOf(records: readonly SamplerRecord[], groupBySuperLabel: boolean): ProductTable {
  const productIndex = new Map<string, number>();
  const groupIndex = new Map<string, number>();
  const members: number[][] = [];
  const groupOf: number[] = [];
  const groups: number[][] = [];
  const productOfRecord = new Int32Array(records.length);
  records.forEach((r, i) => {
    const key = r.label === null ? `record:${i}` : keyOf(r.label);
    let p = productIndex.get(key);
    if (p === undefined) {
      p = members.length;
      productIndex.set(key, p);
      members.push([]);
      // A product's super label is its first record's: data with two for one product is not sorted out here.
      const gKey = groupBySuperLabel && r.superLabel != null ? keyOf(r.superLabel) : '';
      let g = groupIndex.get(gKey);
      if (g === undefined) {
        g = groups.length;
        groupIndex.set(gKey, g);
        groups.push([]);
      }
      groupOf.push(g);
      groups[g]!.push(p);
    }
    members[p]!.push(i);
    productOfRecord[i] = p;
  });
  return { members, groupOf, groups, productOfRecord };
}

/** A seed for (seed, epoch) apart from the random sampler's, so the two never share a stream by accident. */
function epochRng(seed: number, epoch: number): Rng {
  return new Rng((seed ^ Math.imul(epoch + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0);
}

/**
 * The products of a group in batch order. Without neighbours: shuffled.
 * With neighbours: a walk that starts at a random product and steps to the
 * nearest product not yet visited (in the same group), jumping to a random
 * unvisited one when the list runs out.
 */
function productOrder(
  products: readonly number[],
  rng: Rng,
  neighbours: ReadonlyMap<number, readonly number[]> | undefined,
): number[] {
  const shuffled = rng.shuffle([...products]);
  if (!neighbours) return shuffled;
  const inGroup = new Set(products);
  const visited = new Set<number>();
  const out: number[] = [];
  let next = 0;
  let current: number | undefined;
  while (out.length < products.length) {
    if (current === undefined) {
      while (visited.has(shuffled[next]!)) next++;
      current = shuffled[next]!;
    }
    visited.add(current);
    out.push(current);
    current = (neighbours.get(current) ?? []).find((q) => inGroup.has(q) && !visited.has(q));
  }
  return out;
}

/**
 * A group's records in batch order: its products' pairs in chunks of m, one
 * chunk of each product per round, so that a product with more than m pairs
 * is spread over batches instead of filling one.
 */
function groupSequence(order: readonly number[], chunksOf: ReadonlyMap<number, number[][]>): number[] {
  const seq: number[] = [];
  for (let round = 0; ; round++) {
    let any = false;
    for (const p of order) {
      const chunk = chunksOf.get(p)![round];
      if (!chunk) continue;
      any = true;
      seq.push(...chunk);
    }
    if (!any) return seq;
  }
}

/**
 * The epoch's record order for `m_per_product`: consecutive runs of
 * batchSize records are the batches. Each super-label group is cut into
 * whole batches; what is left of every group is pooled into mixed batches;
 * then the batches are shuffled (so the run does not visit one super class
 * after the other).
 */
export function mPerProductOrder(
  records: readonly SamplerRecord[],
  options: MPerProductOptions,
  epoch: number,
  table: ProductTable = productsOf(records, options.groupBySuperLabel),
): number[] {
  const { batchSize } = options;
  const m = Math.max(1, options.imagesPerProduct);
  const rng = epochRng(options.seed, epoch);
  const chunksOf = new Map<number, number[][]>();
  table.members.forEach((recs, p) => {
    const shuffled = rng.shuffle([...recs]);
    const chunks: number[][] = [];
    for (let i = 0; i < shuffled.length; i += m) chunks.push(shuffled.slice(i, i + m));
    chunksOf.set(p, chunks);
  });

  const batches: number[][] = [];
  const leftovers: number[] = [];
  for (const g of rng.shuffle(table.groups.map((_, i) => i))) {
    const seq = groupSequence(productOrder(table.groups[g]!, rng, options.neighbours), chunksOf);
    const whole = Math.floor(seq.length / batchSize);
    for (let b = 0; b < whole; b++) batches.push(seq.slice(b * batchSize, (b + 1) * batchSize));
    leftovers.push(...seq.slice(whole * batchSize));
  }
  for (let b = 0; b + batchSize <= leftovers.length; b += batchSize) batches.push(leftovers.slice(b, b + batchSize));
  return rng.shuffle(batches).flat();
}

/** Hard-negative mining's result: product index (productsOf's order) -> nearest other products. */
export type ProductNeighbours = ReadonlyMap<number, readonly number[]>;

/** The sampler's options from the config, for batches of `batchSize` pairs. */
export function samplerOptions(
  config: Pick<TrainConfig, 'seed'> & Partial<Pick<TrainConfig, 'images_per_product' | 'group_by_super_label'>>,
  batchSize: number,
  neighbours?: ProductNeighbours,
): MPerProductOptions {
  // Callers that only know the random sampler's keys get the schema's defaults for the others.
  const defaults = defaultConfig();
  return {
    batchSize,
    imagesPerProduct: config.images_per_product ?? defaults.images_per_product,
    groupBySuperLabel: config.group_by_super_label ?? defaults.group_by_super_label,
    seed: config.seed,
    ...(neighbours ? { neighbours } : {}),
  };
}
