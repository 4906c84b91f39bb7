import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import { loadSopImageList, findMissingImages } from '../../data/sopList';
import { runSopBenchmark } from '../../retrieval/sopBenchmark';
import { buildIndex } from '../../retrieval/imageIndex';
import { readReport } from '../../../shared/artifacts/reportFile';
import { compareReports, formatComparisonText } from '../../retrieval/compare';
import { INFERENCE_OPTIONS, ONNX_FILE_OPTION, withInferenceModel } from './modelOptions';
import { checkWritableDir } from '../../../shared/fs/makeDirs';
import { ImageReadError } from '../../image/decode';

/** An image that cannot be decoded is reported with the line of the list that names it. */
async function withListLine<T>(
  listFile: string,
  images: readonly { path: string; line: number }[],
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof ImageReadError)) throw e;
    const hit = images.find(
      (im) => path.resolve(im.path) === path.resolve(e.path) || e.path.endsWith(path.sep + im.path),
    );
    const where = hit ? `${listFile}:${hit.line}` : listFile;
    throw new UserError(
      `${where}: cannot read image ${e.path}: ${e.reason}`,
      'Replace or remove the image (and its line), then run the benchmark again.',
      'bad-data',
      listFile,
      hit?.line,
    );
  }
}

export const benchmarkSopCommand: Command = {
  name: 'benchmark sop',
  summary: 'Recall@1/10/100/1000 and MAP@R on the SOP test split (every image queries all the others).',
  usage:
    '--model_path DIR_OR_ID --sop_root DIR [--output_dir DIR] [--batch_size N] [--compare BEFORE_REPORT] [--onnx FILE.onnx]',
  description: [
    'Embeds every image of Ebay_test.txt; each image queries all the OTHER test images by cosine similarity; a query counts only if its product has another image.',
    'Writes into --output_dir (default <model_path>/benchmark-sop, or ./benchmark-sop for a hub id): sop_report.json, sop_report.md, embeddings.npy (float32 [N, D], Ebay_test.txt order),',
    "labels.npy (class ids), metadata.jsonl, neighbours.json (+ .npy arrays: each query's top neighbours, for the results panel), embedding_map.json (2-D PCA map of the embeddings, for the panel; see `vembed benchmark map`) and index/ (a searchable index for `vembed search`).",
  ].join('\n'),
  options: [
    {
      name: 'model_path',
      type: 'string',
      metavar: 'DIR_OR_ID',
      required: true,
      description: 'Model folder, checkpoint, LoRA adapter folder or hub id.',
    },
    {
      name: 'sop_root',
      type: 'string',
      metavar: 'DIR',
      required: true,
      description: 'Stanford Online Products folder (holding Ebay_test.txt).',
    },
    { name: 'output_dir', type: 'string', metavar: 'DIR', description: 'Where to write the report and arrays.' },
    {
      name: 'list',
      type: 'string',
      metavar: 'FILE',
      default: 'Ebay_test.txt',
      description: 'The image list inside --sop_root.',
    },
    {
      name: 'compare',
      type: 'string',
      metavar: 'REPORT',
      description: 'A previous sop_report.json (e.g. before fine-tuning): print the before/after table.',
    },
    {
      name: 'neighbours',
      type: 'integer',
      metavar: 'K',
      default: 20,
      description: 'Neighbours kept per query for the results panel.',
    },
    ...INFERENCE_OPTIONS,
    ONNX_FILE_OPTION,
  ],
  async run(ctx) {
    const { args, reporter, signal } = ctx;
    const o = args.options;
    const sopRoot = path.resolve(o.sop_root as string);
    const listFile = path.join(sopRoot, o.list as string);
    if (!fs.existsSync(listFile))
      throw new UserError(
        `${listFile} not found`,
        '--sop_root must be the Stanford Online Products folder (with Ebay_test.txt).',
        'data',
        listFile,
      );
    const list = loadSopImageList(listFile, sopRoot);
    const missing = findMissingImages(sopRoot, list.images);
    if (missing.length > 0) {
      throw new UserError(
        `${missing.length} of ${list.images.length} images listed in ${listFile} are missing, e.g. ${missing
          .slice(0, 3)
          .map((m) => `line ${m.line}: ${m.path}`)
          .join('; ')}`,
        'Check --sop_root, or restore the images.',
        'data',
        listFile,
      );
    }
    const modelPath = o.model_path as string;
    const local = fs.existsSync(path.resolve(modelPath));
    const outDir = path.resolve(
      (o.output_dir as string | undefined) ?? (local ? path.join(modelPath, 'benchmark-sop') : 'benchmark-sop'),
    );
    checkWritableDir(outDir);
    const started = performance.now();
    return withInferenceModel(
      modelPath,
      'benchmark sop',
      ctx,
      async ({ encoder, backend, embed }) => {
        reporter.info(
          `benchmark: ${list.images.length} images of ${list.numProducts} products in ${list.numSuperClasses} super classes; model ${modelPath} at ${encoder.processing.imageSize}px`,
        );
        const modelName = local ? path.resolve(modelPath) : modelPath;
        let embeddings: Float32Array = new Float32Array(0);
        const result = await runSopBenchmark({
          images: list.images.map((im) => ({ path: im.path, label: im.classId, superClass: im.superClassId })),
          imageRoot: sopRoot,
          embedder: async (paths, onProgress) =>
            (embeddings = await withListLine(listFile, list.images, () => embed(paths, onProgress))),
          onEmbedProgress: (done, total) =>
            reporter.event({ type: 'progress', task: 'embedding', done, total, unit: 'images' }),
          outDir,
          run: {
            // With --onnx the numbers are the exported file's.
            model: o.onnx ? `${modelName} exported as ${path.resolve(String(o.onnx))}` : modelName,
            backend: backend.onnx?.name ?? backend.name,
            device: backend.onnx?.line ?? backend.device,
            image_size: encoder.processing.imageSize,
            pooling: encoder.pooling,
          },
          evaluate: {
            neighbours: o.neighbours as number,
            signal,
            onProgress: (done: number, total: number) =>
              reporter.event({ type: 'progress', task: 'searching', done, total }),
          },
        });
        // The same embeddings as a searchable index (`vembed search`, Find Similar Images, the panel's search).
        const indexDir = path.join(outDir, 'index');
        buildIndex(indexDir, {
          embeddings: { data: embeddings, n: list.images.length, d: encoder.embeddingDim },
          records: list.images.map((im) => ({ path: im.path, label: im.classId, super_class: im.superClassId })),
          model: { name: modelName },
          imageRoot: sopRoot,
        });
        const ev = result.evaluation;
        reporter.event({
          type: 'evaluation',
          epoch: 0,
          step: 0,
          split: 'sop-test',
          metrics: ev.metrics,
          numImages: ev.numImages,
          numValidQueries: ev.numValidQueries,
          reportPath: result.files.report,
        });
        reporter.result(fs.readFileSync(result.files.markdown, 'utf8'));
        if (o.compare)
          reporter.result(
            formatComparisonText(
              compareReports(readReport(path.resolve(o.compare as string)), readReport(result.files.report)),
            ),
          );
        reporter.info(`wrote ${outDir} (report, embeddings, neighbours, index)`);
        reporter.event({
          type: 'finished',
          status: 'completed',
          seconds: (performance.now() - started) / 1000,
          outputs: {
            report: result.files.report,
            markdown: result.files.markdown,
            neighbours: result.files.neighbours,
            embeddings: result.files.embeddings,
            index: indexDir,
          },
        });
        return 0;
      },
      outDir,
    );
  },
};
