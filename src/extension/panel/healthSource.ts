/**
 * The Data health tab's data: the run folder's data-health.json (a training
 * run writes it to its output_dir; prepare-sop and check-data next to the
 * data), read with the shared reader, and the images it lists resolved to
 * files so the page can show thumbnails and open them by index.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DATA_HEALTH_FILE,
  hasLeakage,
  listedImages,
  parseDataHealth,
  type DataHealthReport,
} from '../../shared/artifacts/dataHealthFile';
import type { DataHealthData, HostMessage } from '../../shared/panelProtocol';
import type { ThumbnailLinks } from './thumbnailLinks';

/** Entries of each list the page shows (with thumbnails); the rest are counted. */
export const HEALTH_LIST_LIMIT = 20;

export interface LoadedHealth {
  message: Extract<HostMessage, { type: 'dataHealth' }>;
  /** Absolute paths of `message.health.images`, by index; undefined where the file is missing. */
  paths: Array<string | undefined>;
}

/** Where a listed image is: absolute as listed, else under its split's root (or the report's folder). */
export function resolveHealthImage(report: DataHealthReport, file: string, split: 'train' | 'test', image: string) {
  if (path.isAbsolute(image)) return image;
  return path.resolve(report.imageRoots?.[split] ?? path.dirname(file), image);
}

/** The run's report; a `dataHealth` message with null and a reason when there is none or it is unreadable. */
export async function loadDataHealth(runDir: string, links: ThumbnailLinks): Promise<LoadedHealth> {
  const file = path.join(runDir, DATA_HEALTH_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return {
      message: {
        type: 'dataHealth',
        health: null,
        reason: `No ${DATA_HEALTH_FILE} in ${runDir}. A training run writes one to its output_dir; \`vembed check-data\` checks any data.`,
      },
      paths: [],
    };
  }
  let report: DataHealthReport;
  try {
    report = parseDataHealth(text, file);
  } catch (e) {
    return { message: { type: 'dataHealth', health: null, reason: (e as Error).message }, paths: [] };
  }
  const listed = listedImages(report, HEALTH_LIST_LIMIT);
  const paths = listed.map((l) => {
    const p = resolveHealthImage(report, file, l.split, l.image);
    return fs.existsSync(p) ? p : undefined;
  });
  const thumbs = await Promise.all(paths.map((p) => (p ? links.link(p) : Promise.resolve({}))));
  const health: DataHealthData = {
    file,
    report,
    leakage: hasLeakage(report),
    images: listed.map((l, i) => ({ ...l, exists: paths[i] !== undefined, ...thumbs[i] })),
  };
  return { message: { type: 'dataHealth', health }, paths };
}
