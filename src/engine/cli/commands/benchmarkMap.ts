import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import {
  DEFAULT_MAP_SEED,
  nonFiniteRows,
  readBenchmarkEmbeddings,
  writeEmbeddingMap,
} from '../../analysis/embeddingMap';
import { METADATA_FILE, readMetadata } from '../../../shared/artifacts/metadataFile';
import { checkOutputFile } from '../../../shared/fs/outputPath';
import { EMBEDDING_MAP_FILE } from '../../../shared/artifacts/embeddingMap';

/** Rows named by their image (metadata.jsonl beside the embeddings) where it can be read, else by number. */
function nonFiniteError(dir: string, n: number, rows: readonly number[]): UserError {
  let paths: string[] | undefined;
  try {
    const records = readMetadata(path.join(dir, METADATA_FILE));
    if (records.length === n) paths = records.map((r) => r.path);
  } catch {
    // no metadata: rows by number
  }
  const named = rows
    .slice(0, 5)
    .map((r) => `row ${r}${paths ? ` (${paths[r]})` : ''}`)
    .join(', ');
  return new UserError(
    `${path.join(dir, 'embeddings.npy')}: ${rows.length} of ${n} rows hold NaN or infinite values: ${named}${rows.length > 5 ? ', ...' : ''}; a map of them would be empty`,
    'Run the benchmark again (`vembed benchmark sop` refuses a model that gives such embeddings), or check the model with `vembed embed`.',
    'data',
    path.join(dir, 'embeddings.npy'),
  );
}

export const benchmarkMapCommand: Command = {
  name: 'benchmark map',
  summary: "2-D map (PCA) of benchmark folders' embeddings, for the results panel",
  usage: 'BENCHMARK_DIR [BENCHMARK_DIR ...] [--seed N]',
  description: [
    `Projects each folder's embeddings.npy (rows L2-normalised, then centred) onto its first two principal components and writes ${EMBEDDING_MAP_FILE} there, with the time the projection took.`,
    '`vembed benchmark sop` and the evaluations during training already write it; this command (re)makes it for older folders or another seed.',
    'The results panel shows the map of the zero-shot model and of the fine-tuned one side by side.',
  ].join('\n'),
  options: [
    {
      name: 'seed',
      type: 'integer',
      metavar: 'N',
      default: DEFAULT_MAP_SEED,
      description: "Seed of the power iteration's starting vectors (the map is the same for any seed, to 1e-6).",
    },
  ],
  async run({ args, reporter }) {
    if (args.positionals.length === 0)
      throw new UsageError('needs at least one benchmark folder: vembed benchmark map BENCHMARK_DIR');
    const seed = args.options.seed as number;
    for (const given of args.positionals) {
      const dir = path.resolve(given);
      if (!fs.existsSync(path.join(dir, 'embeddings.npy')))
        throw new UserError(
          `${dir} holds no embeddings.npy`,
          "Pass the output folder of `vembed benchmark sop` (or a run's eval-latest / eval-before folder).",
          'data',
          dir,
        );
      let emb;
      try {
        emb = readBenchmarkEmbeddings(dir);
      } catch (e) {
        throw new UserError((e as Error).message, 'Run the benchmark again to rewrite embeddings.npy.', 'data', dir);
      }
      const bad = nonFiniteRows(emb);
      if (bad.length > 0) throw nonFiniteError(dir, emb.n, bad);
      checkOutputFile(path.join(dir, EMBEDDING_MAP_FILE));
      const { file, map } = writeEmbeddingMap(dir, emb, seed);
      if (map.variance_ratio.every((v) => v === 0))
        reporter.warn(
          `${file}: no variance to show: all ${map.num_points} embeddings are the same direction (after L2 normalisation), so every point of the map is at the origin`,
          'no-variance',
        );
      else
        reporter.result(
          `${file}: PCA of ${map.num_points} x ${map.dim} in ${map.seconds.toFixed(2)} s; axes hold ${map.variance_ratio
            .map((v) => `${(100 * v).toFixed(1)}%`)
            .join(' and ')} of the variance`,
        );
    }
    return 0;
  },
};
