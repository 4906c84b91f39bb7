/**
 * The SOP benchmark end to end, with the model left to the caller: embed
 * every test image through `embedder` (in list order), run the protocol,
 * write the outputs (sopReport.ts). `vembed benchmark sop` and the
 * extension's Evaluate command wire the model and the image list in.
 */
import * as path from 'node:path';
import type { Embedder } from './embeddings';
import { evaluateRetrieval, type EvaluateOptions, type RetrievalEvaluation } from './evaluate';
import { writeSopOutputs, type RunInfo, type SopOutputFiles } from './sopReport';

export interface BenchmarkImage {
  /** Relative to imageRoot (as in Ebay_test.txt) or absolute. */
  path: string;
  /** Class (product) id. */
  label: number;
  /** Category (SOP's super_class_id, or a name); kept in metadata.jsonl as `super_class`. */
  superClass?: number | string;
}

export interface SopBenchmarkInput {
  images: readonly BenchmarkImage[];
  /** Folder holding the image list; relative paths start here. */
  imageRoot: string;
  /** Gets absolute paths, returns float32 [images, D] in the same order. */
  embedder: Embedder;
  outDir: string;
  run: RunInfo;
  evaluate?: EvaluateOptions;
  onEmbedProgress?: (done: number, total: number) => void;
}

export interface SopBenchmarkResult {
  evaluation: RetrievalEvaluation;
  files: SopOutputFiles;
  embedSeconds: number;
}

export async function runSopBenchmark(input: SopBenchmarkInput): Promise<SopBenchmarkResult> {
  const { images } = input;
  if (images.length < 2) throw new Error(`the benchmark needs at least 2 images, the list has ${images.length}`);
  const paths = images.map((im) => (path.isAbsolute(im.path) ? im.path : path.join(input.imageRoot, im.path)));
  const t0 = performance.now();
  const data = await input.embedder(paths, input.onEmbedProgress);
  const embedSeconds = (performance.now() - t0) / 1000;
  if (data.length === 0 || data.length % images.length !== 0) {
    throw new Error(
      `the embedder returned ${data.length} values for ${images.length} images, not a whole number per image`,
    );
  }
  const embeddings = { data, n: images.length, d: data.length / images.length };
  const labels = Int32Array.from(images, (im) => im.label);
  const evaluation = await evaluateRetrieval(embeddings, labels, input.evaluate ?? {});
  const files = writeSopOutputs(input.outDir, {
    evaluation,
    embeddings,
    labels,
    records: images.map((im) => ({
      path: im.path,
      label: im.label,
      ...(im.superClass !== undefined ? { super_class: im.superClass } : {}),
    })),
    imageRoot: input.imageRoot,
    run: {
      ...input.run,
      timing: { ...(input.run.timing ?? {}), embedding_seconds: Math.round(embedSeconds * 1000) / 1000 },
    },
  });
  return { evaluation, files, embedSeconds };
}
