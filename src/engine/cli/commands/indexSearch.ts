import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import { loadSopImageList } from '../../data/sopList';
import { loadPairDataset } from '../../data/pairDataset';
import { DataError } from '../../data/problems';
import type { Reporter } from '../../report/reporter';
import { defaultConfig } from '../../../shared/config/schema';
import { buildIndexFromImages, indexTargetProblem, loadIndex } from '../../retrieval/imageIndex';
import { checkWritableDir } from '../../../shared/fs/makeDirs';
import { checkOutputFolder } from '../../../shared/fs/outputPath';
import type { ImageRecord } from '../../../shared/artifacts/metadataFile';
import { writeJsonAtomic } from '../../../shared/fs/atomic';
import { COMPUTE_OPTIONS } from './backendOption';
import { BATCH_OPTION, INFERENCE_OPTIONS, withInferenceModel } from './modelOptions';

/** The images to index: an SOP list (Ebay_*.txt) or a pair file's distinct images. */
async function imagesFrom(
  file: string,
  skipInvalid: boolean,
  reporter: Reporter,
): Promise<{ records: ImageRecord[]; imageRoot: string }> {
  if (/\.txt$/i.test(file)) {
    const list = loadSopImageList(file);
    return {
      records: list.images.map((im) => ({ path: im.path, label: im.classId, super_class: im.superClassId })),
      imageRoot: list.root,
    };
  }
  let pairs;
  try {
    pairs = await loadPairDataset(file, { ...defaultConfig(), validate_data: true, skip_invalid_records: skipInvalid });
  } catch (e) {
    // The data module's hint speaks of the training config's key; here the option is a flag.
    if (!(e instanceof DataError)) throw e;
    throw new DataError(
      e.message,
      e.problems,
      'Fix the records, or add --skip_invalid_records to index the others (the bad ones are listed as warnings).',
    );
  }
  if (pairs.skipped > 0) {
    for (const p of pairs.problems)
      reporter.warn(`${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`, 'record-skipped');
    reporter.warn(`skipped ${pairs.skipped} invalid record(s) of ${file}`, 'records-skipped');
  }
  const seen = new Map<string, ImageRecord>();
  for (const r of pairs.records) {
    for (const p of [r.query, r.positive]) {
      if (!seen.has(p))
        seen.set(p, { path: path.relative(pairs.imageRoot, p), ...(r.label !== null ? { label: r.label } : {}) });
    }
  }
  return { records: [...seen.values()], imageRoot: pairs.imageRoot };
}

export const indexBuildCommand: Command = {
  name: 'index build',
  summary: 'Embed a set of images into a searchable index folder.',
  usage: '--model DIR_OR_ID --images FILE --out DIR [--batch_size N] [--force] [--skip_invalid_records]',
  description:
    'FILE is an SOP list (Ebay_test.txt) or a JSONL/CSV/TSV pair file (its distinct images). The index folder holds embeddings.npy (L2-normalised float32 [N, D], ready for FAISS IndexFlatIP), metadata.jsonl (one image a line) and index.json. ' +
    'DIR is replaced as a whole: an existing index is rebuilt, but a folder holding other files, or a file, is refused unless --force.',
  options: [
    {
      name: 'model',
      type: 'string',
      metavar: 'DIR_OR_ID',
      required: true,
      description: 'Model folder, checkpoint, adapter folder or hub id.',
    },
    { name: 'images', type: 'string', metavar: 'FILE', required: true, description: 'Ebay_*.txt or a pair file.' },
    { name: 'out', type: 'string', metavar: 'DIR', required: true, description: 'The index folder to write.' },
    {
      name: 'force',
      type: 'boolean',
      description: 'Replace DIR even if it holds other files or is a file (they are deleted).',
    },
    {
      name: 'skip_invalid_records',
      type: 'boolean',
      description:
        'Leave out the records of a pair file whose images are missing or do not decode (each is named in a warning) instead of stopping.',
    },
    ...INFERENCE_OPTIONS,
  ],
  async run(ctx) {
    const { args, reporter } = ctx;
    const o = args.options;
    const started = performance.now();
    const out = checkOutputFolder(o.out as string, '--out');
    // Before any work: the index replaces the folder as a whole, so refuse to delete what is not an index.
    const problem = indexTargetProblem(out);
    if (problem && o.force !== true)
      throw new UserError(
        problem,
        'Choose an empty or new folder for --out, or add --force to replace it.',
        'output-exists',
        out,
      );
    checkWritableDir(path.dirname(out));
    const { records, imageRoot } = await imagesFrom(
      path.resolve(o.images as string),
      o.skip_invalid_records === true,
      reporter,
    );
    const modelPath = o.model as string;
    return withInferenceModel(modelPath, 'index build', ctx, async ({ embed }) => {
      const manifest = await buildIndexFromImages(out, {
        records,
        imageRoot,
        model: { name: fs.existsSync(path.resolve(modelPath)) ? path.resolve(modelPath) : modelPath },
        embedder: embed,
        onProgress: (done, total) =>
          reporter.event({ type: 'progress', task: 'embedding', done, total, unit: 'images' }),
      });
      reporter.info(`wrote index ${out}: ${manifest.count} images, ${manifest.dim}-d`);
      reporter.event({
        type: 'finished',
        status: 'completed',
        seconds: (performance.now() - started) / 1000,
        outputs: { index: out },
      });
      return 0;
    });
  },
};

export const searchCommand: Command = {
  name: 'search',
  summary: 'Find the images of an index nearest to a query image.',
  usage: '--index DIR --image FILE [--k N] [--json]',
  description:
    "Embeds the query with the index's own model (recorded in index.json) and ranks the index by cosine similarity. With --json the results are also written to a file named in the finished event (outputs.results).",
  options: [
    {
      name: 'index',
      type: 'string',
      metavar: 'DIR',
      required: true,
      description: 'An index folder (`vembed index build`, or index/ of a benchmark).',
    },
    { name: 'image', type: 'string', metavar: 'FILE', required: true, description: 'The query image.' },
    { name: 'k', type: 'integer', metavar: 'N', short: 'k', default: 10, description: 'How many results.' },
    { name: 'out', type: 'string', metavar: 'FILE', description: 'Write the results as JSON here.' },
    BATCH_OPTION,
    ...COMPUTE_OPTIONS,
  ],
  async run(ctx) {
    const { args, reporter } = ctx;
    const o = args.options;
    const k = o.k as number;
    if (k < 1) throw new UsageError('--k must be at least 1');
    const image = path.resolve(o.image as string);
    if (!fs.existsSync(image)) throw new UserError(`query image not found: ${image}`);
    const started = performance.now();
    const index = loadIndex(path.resolve(o.index as string));
    try {
      // Queries are embedded with the model the index was built with.
      return await withInferenceModel(index.manifest.model.name, 'search', ctx, async ({ encoder, embed }) => {
        const q = await embed([image]);
        const hits = index.search({ data: q, n: 1, d: encoder.embeddingDim }, { k })[0]!;
        const results = hits.map((h) => ({
          rank: h.rank,
          score: h.score,
          path: index.imagePath(h.index),
          label: h.record.label ?? null,
        }));
        for (const r of results) reporter.result(`${String(r.rank).padStart(3)}  ${r.score.toFixed(4)}  ${r.path}`);
        // With --json the caller (the extension) reads the results from a file of its own, never from the index folder.
        const outFile = o.out
          ? path.resolve(o.out as string)
          : reporter.json
            ? path.join(os.tmpdir(), `vembed-search-${process.pid}-${Date.now()}.json`)
            : undefined;
        if (outFile) writeJsonAtomic(outFile, results);
        reporter.event({
          type: 'finished',
          status: 'completed',
          seconds: (performance.now() - started) / 1000,
          ...(outFile ? { outputs: { results: outFile } } : {}),
        });
        return 0;
      });
    } finally {
      index.dispose();
    }
  },
};
