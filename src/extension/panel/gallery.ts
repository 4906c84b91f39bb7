/**
 * The query gallery: a benchmark's neighbours (src/engine/retrieval/
 * neighboursFile.ts: `neighbours.json` + `.npy` arrays + `metadata.jsonl`)
 * turned into the panel's GalleryData, and the answers, by index, to the
 * page's requests for neighbours and image paths.
 *
 * The files are read with the engine's own readers, so the panel follows the
 * format its writer defines. What the panel adds:
 * - image paths resolve against the image root: `image_root` of the manifest
 *   if it has one, else of the `sop_report.json` next to it, else the folder
 *   itself; a relative root is relative to the manifest's folder;
 * - the super class is named by SOP's `<name>_final/` folder when the image is
 *   in one ("bicycle", rather than SOP's numeric super_class_id), else the
 *   record's `super_class` (or `superClass`), else the folder of its path;
 * - queries whose class has no other image (first_correct_rank -1) count in
 *   no metric and are left out; a first correct rank beyond the rank cap
 *   (0) becomes null.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMetadata, type ImageRecord } from '../../shared/artifacts/metadataFile';
import { readNeighbours, type LoadedNeighbours } from '../../shared/artifacts/neighboursFile';
import type { GalleryData, GalleryImage, GalleryNeighbour, GalleryQuery } from '../../shared/panelProtocol';
import { superClassOfRecord } from '../../shared/analysis/errorAnalysis';

/** The report a benchmark writes next to its neighbours (src/engine/retrieval/sopReport.ts). */
const REPORT_BESIDE = 'sop_report.json';

/**
 * Galleries with at most this many neighbours in all go to the page in one
 * message; larger ones (a full SOP benchmark: 60k queries x K) send each
 * query's neighbours when it is opened.
 */
export const INLINE_NEIGHBOURS_LIMIT = 50_000;

export class GalleryFileError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}`);
    this.name = 'GalleryFileError';
  }
}

export class GallerySource {
  readonly data: GalleryData;
  private byPath: Map<string, number> | undefined;

  private constructor(
    private readonly table: LoadedNeighbours,
    private readonly images: GalleryImage[],
    private readonly imageRoot: string,
    /** File row (= image index) of each gallery query. */
    private readonly rows: Int32Array,
    readonly inline: boolean,
    readonly file: string,
  ) {
    const queries: GalleryQuery[] = [];
    for (let q = 0; q < rows.length; q++) {
      const fcr = table.firstCorrectRank[rows[q]!]!;
      queries.push({
        image: rows[q]!,
        firstCorrectRank: fcr > 0 ? fcr : null,
        ...(inline ? { neighbours: this.neighbours(q)! } : {}),
      });
    }
    this.data = { source: file, k: table.k, rankCap: table.rankCap, images, queries };
  }

  /** Neighbours of gallery query `q` (an index into data.queries), best first; undefined when out of range. */
  neighbours(q: number): GalleryNeighbour[] | undefined {
    if (!Number.isInteger(q) || q < 0 || q >= this.rows.length) return undefined;
    return this.table.of(this.rows[q]!).map((n) => ({ image: n.index, score: n.score, same: n.sameClass }));
  }

  /** Absolute path of image `i`; undefined for an index out of range. */
  imagePath(i: number): string | undefined {
    const img = Number.isInteger(i) && i >= 0 ? this.images[i] : undefined;
    if (!img) return undefined;
    return path.isAbsolute(img.path) ? img.path : path.join(this.imageRoot, img.path);
  }

  get imageCount(): number {
    return this.images.length;
  }

  /** Index of the image at an absolute path, to label search hits that are gallery images. */
  indexOfPath(absPath: string): number | undefined {
    if (!this.byPath) {
      this.byPath = new Map();
      for (let i = 0; i < this.images.length; i++) this.byPath.set(path.resolve(this.imagePath(i)!), i);
    }
    return this.byPath.get(path.resolve(absPath));
  }

  /** Read a benchmark's neighbours; `manifest` is its neighbours.json. */
  static async read(manifest: string, inlineLimit = INLINE_NEIGHBOURS_LIMIT): Promise<GallerySource> {
    let table: LoadedNeighbours;
    try {
      table = readNeighbours(manifest);
    } catch (e) {
      throw new GalleryFileError(manifest, (e as Error).message.replace(`${manifest}: `, ''));
    }
    const dir = path.dirname(manifest);
    if (!table.manifest.metadata) {
      throw new GalleryFileError(
        manifest,
        'names no metadata.jsonl, so the images are unknown: the benchmark ran without image paths. Run it on an image list (e.g. `vembed benchmark sop`) to browse its queries.',
      );
    }
    const records = readMetadata(path.join(dir, table.manifest.metadata));
    if (records.length !== table.numQueries) {
      throw new GalleryFileError(
        path.join(dir, table.manifest.metadata),
        `${records.length} image records for ${table.numQueries} images in ${path.basename(manifest)}; the files come from different runs`,
      );
    }
    const imageRoot = path.resolve(dir, imageRootOf(table.manifest as unknown as Record<string, unknown>, dir));
    const images = galleryImages(records);
    const valid: number[] = [];
    for (let q = 0; q < table.numQueries; q++) if (table.firstCorrectRank[q]! !== -1) valid.push(q);
    return new GallerySource(
      table,
      images,
      imageRoot,
      Int32Array.from(valid),
      table.indices.length <= inlineLimit,
      manifest,
    );
  }
}

/** The manifest's `image_root`, else the report's beside it, else the folder itself. */
function imageRootOf(manifest: Record<string, unknown>, dir: string): string {
  if (typeof manifest.image_root === 'string') return manifest.image_root;
  try {
    const report = JSON.parse(fs.readFileSync(path.join(dir, REPORT_BESIDE), 'utf8')) as Record<string, unknown>;
    if (typeof report.image_root === 'string') return report.image_root;
  } catch {
    // No report beside the neighbours: paths are relative to their folder.
  }
  return dir;
}

function galleryImages(records: ImageRecord[]): GalleryImage[] {
  return records.map((r) => {
    // The same naming as the error analysis (SOP's folder names rather than its numeric ids).
    const superClass = superClassOfRecord(r);
    return {
      path: r.path,
      label: typeof r.label === 'number' || typeof r.label === 'string' ? r.label : '?',
      ...(superClass !== undefined ? { superClass } : {}),
    };
  });
}

/** SOP lays images out as `<class>_final/<file>`: the folder names the super class. */
export function superClassFromPath(p: string): string | undefined {
  const parts = p.split(/[\\/]/);
  if (parts.length < 2) return undefined;
  const folder = parts[parts.length - 2]!;
  return folder.replace(/_final$/, '') || undefined;
}
