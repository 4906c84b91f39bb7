/**
 * The error analysis of two benchmark folders (the model before and after
 * fine-tuning, same images), for `vembed benchmark compare`: read their
 * neighbours files and metadata, analyse (src/shared/analysis/errorAnalysis.ts),
 * format as text and Markdown, and write `error_analysis.json`:
 *
 *   { "format": "vembed-error-analysis", "version": 1,
 *     "before": "<folder>", "after": "<folder>",
 *     "num_queries", "rank_cap", "recall_at_1": { "before", "after" },
 *     "super_classes": [{ "super_class", "queries", "before", "after" }],   Recall@1 as fractions
 *     "improved" / "regressed": [{ "image", "path", "product", "super_class", "before", "after" }],
 *                                      first-correct ranks; null = beyond rank_cap
 *     "confused_pairs": [{ "a", "b", "count", "count_before", "example_query", "example_neighbour" }] }
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../shared/fs/atomic';
import { readNeighbours, NEIGHBOURS_MANIFEST, type LoadedNeighbours } from '../../shared/artifacts/neighboursFile';
import { readMetadata, type ImageRecord } from '../../shared/artifacts/metadataFile';
import {
  analyseErrors,
  superClassOfRecord,
  superClassTable,
  type AnalysisImage,
  type ErrorAnalysis,
  type ErrorAnalysisOptions,
  type QueryChange,
} from '../../shared/analysis/errorAnalysis';

export const ERROR_ANALYSIS_FILE = 'error_analysis.json';

export interface BenchmarkErrorAnalysis {
  beforeDir: string;
  afterDir: string;
  analysis: ErrorAnalysis;
  records: ImageRecord[];
}

/** Why two folders cannot be analysed together; the compare command prints it and goes on. */
export class NoErrorAnalysis extends Error {}

/** `read()`, with a damaged file (truncated JSON, a bad line) as a NoErrorAnalysis: the comparison goes on. */
function readOrSkip<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof NoErrorAnalysis) throw e;
    throw new NoErrorAnalysis((e as Error).message);
  }
}

function load(dir: string): { table: LoadedNeighbours; records: ImageRecord[] } {
  const manifest = path.join(dir, NEIGHBOURS_MANIFEST);
  if (!fs.existsSync(manifest))
    throw new NoErrorAnalysis(`${dir} has no ${NEIGHBOURS_MANIFEST} (a benchmark of this vembed writes one)`);
  const table = readOrSkip(() => readNeighbours(manifest));
  if (!table.manifest.metadata)
    throw new NoErrorAnalysis(`${manifest} names no metadata.jsonl: the images are unknown`);
  const metadata = table.manifest.metadata;
  const records = readOrSkip(() => readMetadata(path.join(dir, metadata)));
  if (records.length !== table.numQueries)
    throw new NoErrorAnalysis(`${dir}: ${records.length} image records for ${table.numQueries} images`);
  return { table, records };
}

/** Analyse the benchmark folders `beforeDir` and `afterDir`; NoErrorAnalysis when they do not fit together. */
export function analyseBenchmarks(
  beforeDir: string,
  afterDir: string,
  options: ErrorAnalysisOptions = {},
): BenchmarkErrorAnalysis {
  const b = load(beforeDir);
  const a = load(afterDir);
  if (b.records.length !== a.records.length)
    throw new NoErrorAnalysis(
      `the benchmarks cover different image sets (${b.records.length} and ${a.records.length} images)`,
    );
  for (let i = 0; i < a.records.length; i++) {
    if (a.records[i]!.path !== b.records[i]!.path)
      throw new NoErrorAnalysis(
        `the benchmarks list different images (image ${i}: ${b.records[i]!.path} before, ${a.records[i]!.path} after)`,
      );
  }
  const images: AnalysisImage[] = a.records.map((r) => {
    const superClass = superClassOfRecord(r);
    return {
      label: typeof r.label === 'number' || typeof r.label === 'string' ? r.label : '?',
      ...(superClass !== undefined ? { superClass } : {}),
    };
  });
  return { beforeDir, afterDir, analysis: analyseErrors(b.table, a.table, images, options), records: a.records };
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const pts = (v: number) => `${v >= 0 ? '+' : '-'}${Math.abs(100 * v).toFixed(2)}`;
const rank = (r: number | null, cap: number) => (r === null ? `>${cap}` : String(r));

function describeQuery(e: BenchmarkErrorAnalysis, q: QueryChange): string {
  const r = e.records[q.image]!;
  const sc = superClassOfRecord(r);
  return `${r.path} (product ${String(r.label)}${sc ? `, ${sc}` : ''})`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** The sections `vembed benchmark compare` prints after the metric table. */
export function formatErrorAnalysisText(e: BenchmarkErrorAnalysis): string {
  const a = e.analysis;
  const cap = a.rankCap;
  const out: string[] = [
    `Recall@1 per super class (${a.numQueries} queries valid in both)`,
    '',
    ...table(
      ['Super class', 'Queries', 'Before', 'After', 'Delta (pts)'],
      superClassTable(a).map((s) => [
        s.superClass,
        String(s.queries),
        pct(s.before),
        pct(s.after),
        pts(s.after - s.before),
      ]),
    ),
  ];
  for (const [title, list] of [
    ['Improved most', a.improved],
    ['Regressed most', a.regressed],
  ] as const) {
    out.push('', `${title} (first correct rank before -> after; image index in brackets)`);
    if (list.length === 0) out.push('  none');
    for (const q of list)
      out.push(`  ${rank(q.before, cap)} -> ${rank(q.after, cap)}  [${q.image}] ${describeQuery(e, q)}`);
  }
  out.push('', "Product pairs most often confused (a query's nearest image is the other product; after, before)");
  if (a.confusedPairs.length === 0) out.push('  none');
  for (const p of a.confusedPairs) {
    const ex = `${e.records[p.example.query]!.path} -> ${e.records[p.example.neighbour]!.path}`;
    out.push(`  ${String(p.a)} <-> ${String(p.b)}: ${p.count} after, ${p.countBefore} before  (e.g. ${ex})`);
  }
  return out.join('\n');
}

export function formatErrorAnalysisMarkdown(e: BenchmarkErrorAnalysis): string {
  const a = e.analysis;
  const cap = a.rankCap;
  const md = (s: string) => s.replace(/\|/g, '\\|');
  const out = [
    '## Recall@1 per super class',
    '',
    '| Super class | Queries | Before | After | Δ (points) |',
    '|---|---:|---:|---:|---:|',
    ...superClassTable(a).map(
      (s) => `| ${md(s.superClass)} | ${s.queries} | ${pct(s.before)} | ${pct(s.after)} | ${pts(s.after - s.before)} |`,
    ),
  ];
  for (const [title, list] of [
    ['Improved most', a.improved],
    ['Regressed most', a.regressed],
  ] as const) {
    out.push('', `## ${title}`, '', '| Image | Product | Rank before | Rank after |', '|---|---|---:|---:|');
    for (const q of list) {
      const r = e.records[q.image]!;
      out.push(`| \`${md(r.path)}\` | ${md(String(r.label))} | ${rank(q.before, cap)} | ${rank(q.after, cap)} |`);
    }
  }
  out.push(
    '',
    '## Product pairs most often confused',
    '',
    '| Products | After | Before | Example |',
    '|---|---:|---:|---|',
  );
  for (const p of a.confusedPairs) {
    const ex = `\`${md(e.records[p.example.query]!.path)}\` → \`${md(e.records[p.example.neighbour]!.path)}\``;
    out.push(`| ${md(String(p.a))} ↔ ${md(String(p.b))} | ${p.count} | ${p.countBefore} | ${ex} |`);
  }
  return out.join('\n') + '\n';
}

/** The analysis as `error_analysis.json` (format above). */
export function errorAnalysisJson(e: BenchmarkErrorAnalysis): Record<string, unknown> {
  const a = e.analysis;
  const query = (q: QueryChange) => {
    const r = e.records[q.image]!;
    const sc = superClassOfRecord(r);
    return {
      image: q.image,
      path: r.path,
      product: r.label ?? null,
      super_class: sc ?? null,
      before: q.before,
      after: q.after,
    };
  };
  return {
    format: 'vembed-error-analysis',
    version: 1,
    before: e.beforeDir,
    after: e.afterDir,
    num_queries: a.numQueries,
    rank_cap: a.rankCap,
    recall_at_1: a.recallAt1,
    super_classes: a.superClasses.map((s) => ({
      super_class: s.superClass,
      queries: s.queries,
      before: s.before,
      after: s.after,
    })),
    improved: a.improved.map(query),
    regressed: a.regressed.map(query),
    confused_pairs: a.confusedPairs.map((p) => ({
      a: p.a,
      b: p.b,
      count: p.count,
      count_before: p.countBefore,
      example_query: p.example.query,
      example_neighbour: p.example.neighbour,
    })),
  };
}

export function writeErrorAnalysis(file: string, e: BenchmarkErrorAnalysis): void {
  writeFileAtomic(file, JSON.stringify(errorAnalysisJson(e), null, 2) + '\n');
}
