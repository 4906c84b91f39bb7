/**
 * The embedding part of the data-health check: embed the distinct train and
 * test images with a model and add the cross-split pairs at or above the
 * threshold to the report (retrieval/nearDuplicates.ts).
 */
import type { DataHealthReport, HealthImage, NearDuplicatePair } from '../data/dataHealth';
import { crossSplitNearDuplicates } from '../retrieval/nearDuplicates';

export type EmbedPaths = (paths: string[], onProgress?: (done: number, total: number) => void) => Promise<Float32Array>;

export async function addNearDuplicates(
  report: DataHealthReport,
  images: readonly HealthImage[],
  options: {
    model: string;
    threshold: number;
    dim: number;
    embed: EmbedPaths;
    onProgress?: ((done: number, total: number) => void) | undefined;
  },
): Promise<DataHealthReport> {
  // One entry per distinct file and split; a file's first listing names it in the report.
  const firsts = (split: 'train' | 'test') => {
    const seen = new Map<string, HealthImage>();
    for (const i of images) if (i.split === split && !seen.has(i.path)) seen.set(i.path, i);
    return [...seen.values()];
  };
  const train = firsts('train');
  const test = firsts('test');
  const total = train.length + test.length;
  const trainData = await options.embed(
    train.map((i) => i.path),
    (done) => options.onProgress?.(done, total),
  );
  const testData = await options.embed(
    test.map((i) => i.path),
    (done) => options.onProgress?.(train.length + done, total),
  );
  const found = crossSplitNearDuplicates(
    { data: trainData, n: train.length, d: options.dim },
    { data: testData, n: test.length, d: options.dim },
    options.threshold,
  );
  const pairs: NearDuplicatePair[] = found.map((p) => ({
    train: train[p.train]!.shown,
    trainProduct: train[p.train]!.product,
    test: test[p.test]!.shown,
    testProduct: test[p.test]!.product,
    cosine: p.cosine,
  }));
  return { ...report, nearDuplicates: { model: options.model, threshold: options.threshold, pairs } };
}
