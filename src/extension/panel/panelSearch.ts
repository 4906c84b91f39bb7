/**
 * Search by image in the panel: an image dropped or chosen on the page (a
 * file: URI from the explorer, or a file's bytes) goes to the engine's search
 * hook; the hits come back with thumbnails, and products and super classes
 * from the gallery when they are gallery images. Results are remembered so
 * the page can open a hit by its index.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MAX_SEARCH_IMAGE_BYTES,
  type HostMessage,
  type PanelMessage,
  type SearchHit,
} from '../../shared/panelProtocol';
import { IMAGE_MIME_EXTENSIONS, SEARCHABLE_IMAGE_EXTENSIONS, isSearchableImage } from '../../shared/imageFiles';
import type { GallerySource } from './gallery';
import type { ThumbnailLinks } from './thumbnailLinks';

/** A hit as the engine's search returns it. */
export interface EngineSearchHit {
  path: string;
  score: number;
  label?: number | string;
  superClass?: string;
}

export interface SearchImageRequest {
  /** The run whose index to search; undefined when the panel shows no run. */
  runDir: string | undefined;
  /** An image file on disk (a dropped file's bytes are written to the scratch folder first). */
  imagePath: string;
  topK: number;
}

/**
 * Search by image, wired to the engine by extension.ts: embed `imagePath`
 * with the run's model and return its nearest images from the run's index,
 * best first. Reject with an Error whose message the user can act on.
 */
export type SearchImageHook = (request: SearchImageRequest) => Promise<EngineSearchHit[]>;

export interface PanelSearchDeps {
  hook: SearchImageHook | undefined;
  topK(): number;
  /** Where dropped images are written so the engine can read them. */
  scratchDir: string;
  links: ThumbnailLinks;
  post(message: HostMessage): void;
  runDir(): string | undefined;
  gallery(): GallerySource | null;
}

/** Search results remembered for `openSearchHit`. */
const REMEMBERED_SEARCHES = 20;

export class PanelSearch {
  private readonly remembered = new Map<string, string[]>();

  constructor(private readonly deps: PanelSearchDeps) {}

  /** Answers the page's `searchImage` with `searchResult` or `searchFailed`. */
  async search(m: Extract<PanelMessage, { type: 'searchImage' }>): Promise<void> {
    const failed = (message: string) => this.deps.post({ type: 'searchFailed', requestId: m.requestId, message });
    const hook = this.deps.hook;
    if (!hook) {
      failed(
        'Search by image is not connected to the engine in this version: use "vembed: Find Similar Images" from the explorer, or `vembed search` in a terminal.',
      );
      return;
    }
    let imagePath: string;
    let query: { name: string; thumbnail?: string } = { name: m.name };
    try {
      if (m.source.kind === 'bytes') {
        imagePath = await this.writeDroppedImage(m.source.mime, m.source.base64);
      } else {
        imagePath = imageFileFromUri(m.source.uri);
        query = { ...query, ...(await this.deps.links.link(imagePath)) };
      }
    } catch (e) {
      failed((e as Error).message);
      return;
    }
    let hits: EngineSearchHit[];
    try {
      hits = await hook({ runDir: this.deps.runDir(), imagePath, topK: this.deps.topK() });
    } catch (e) {
      failed(`Search failed: ${(e as Error).message}`);
      return;
    }
    this.deps.post({
      type: 'searchResult',
      requestId: m.requestId,
      query,
      hits: await this.toSearchHits(m.requestId, hits),
    });
  }

  /** The `searchResult` message of a search run outside the page (the Find Similar Images command). */
  async resultMessage(requestId: string, imagePath: string, hits: EngineSearchHit[]): Promise<HostMessage> {
    const query = { name: path.basename(imagePath), ...(await this.deps.links.link(imagePath)) };
    return { type: 'searchResult', requestId, query, hits: await this.toSearchHits(requestId, hits) };
  }

  /** The file of hit `index` of a remembered search. */
  hitPath(requestId: string, index: number): string | undefined {
    return this.remembered.get(requestId)?.[index];
  }

  /** The bytes of a dropped file, written once under a content hash. */
  private async writeDroppedImage(mime: string, base64: string): Promise<string> {
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.length === 0) throw new Error('The dropped file is empty.');
    if (bytes.length > MAX_SEARCH_IMAGE_BYTES)
      throw new Error(`The image is larger than ${MAX_SEARCH_IMAGE_BYTES / 1024 / 1024} MiB.`);
    const ext = IMAGE_MIME_EXTENSIONS[mime];
    if (!ext) throw new Error(`Images of type ${mime} are not supported; use JPEG, PNG, WebP, GIF, BMP, TIFF or AVIF.`);
    const name = `search-${createHash('sha256').update(bytes).digest('hex').slice(0, 24)}${ext}`;
    const target = path.join(this.deps.scratchDir, name);
    if (!fs.existsSync(target)) {
      await fs.promises.mkdir(this.deps.scratchDir, { recursive: true });
      const tmp = `${target}.${process.pid}.tmp`;
      await fs.promises.writeFile(tmp, bytes);
      await fs.promises.rename(tmp, target);
    }
    return target;
  }

  private async toSearchHits(requestId: string, hits: EngineSearchHit[]): Promise<SearchHit[]> {
    const base = this.deps.runDir() ?? process.cwd();
    const gallery = this.deps.gallery();
    const out = await Promise.all(
      hits.map(async (h): Promise<SearchHit> => {
        const abs = path.isAbsolute(h.path) ? h.path : path.join(base, h.path);
        // A hit that is a gallery image gets its product and super class from the gallery.
        const index = gallery?.indexOfPath(abs);
        const img = index !== undefined ? gallery!.data.images[index] : undefined;
        const label = h.label ?? img?.label;
        const superClass = h.superClass ?? img?.superClass;
        return {
          path: abs,
          score: h.score,
          ...(label !== undefined ? { label } : {}),
          ...(superClass !== undefined ? { superClass } : {}),
          ...(await this.deps.links.link(abs)),
        };
      }),
    );
    this.remembered.set(
      requestId,
      out.map((h) => h.path),
    );
    while (this.remembered.size > REMEMBERED_SEARCHES) this.remembered.delete(this.remembered.keys().next().value!);
    return out;
  }
}

/** A file: URI dropped from VS Code's explorer, checked to be an existing image file. */
export function imageFileFromUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Error(`Not a file URI: ${uri}`);
  }
  if (url.protocol !== 'file:')
    throw new Error(`Only local files can be searched (got a ${url.protocol} URI); save the image locally first.`);
  const file = fileURLToPath(url);
  if (!isSearchableImage(file))
    throw new Error(
      `${path.basename(file)} is not an image vembed can search with (expected ${SEARCHABLE_IMAGE_EXTENSIONS.map((e) => `.${e}`).join(', ')}).`,
    );
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist.`);
  return file;
}
