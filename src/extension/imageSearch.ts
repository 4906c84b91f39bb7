/**
 * Search by image: the engine embeds the image with the run's own model and
 * searches the run's index. One function for the explorer's Find Similar
 * Images and for the results panel's drop/pick search.
 */
import * as fs from 'node:fs';
import { findRunIndex } from './engineClient/runFiles';
import type { RunController } from './runController';

export interface ImageSearchHit {
  path: string;
  score: number;
}

/** Why a search could not run, in words for the user. */
export class ImageSearchError extends Error {}

/** The run's nearest images to `imagePath`; `undefined` when the user cancelled the search. */
export async function searchRunIndex(
  runs: RunController,
  runDir: string,
  imagePath: string,
  topK: number,
  cwd: string,
): Promise<ImageSearchHit[] | undefined> {
  const index = findRunIndex(runDir);
  if (!index)
    throw new ImageSearchError(
      'that run has no search index yet: benchmark it first ("vembed: Evaluate"), which builds one',
    );
  const exit = await runs.runTask(
    'search',
    ['search', '--index', index, '--image', imagePath, '--k', String(topK)],
    cwd,
  );
  if (!exit || exit.state.status !== 'completed') {
    // Failures were shown by runTask (with the engine's message and Show Log); a cancel is no error.
    if (exit?.state.status === 'failed')
      throw new ImageSearchError(exit.state.error?.message ?? 'the search failed (see the vembed log)');
    return undefined;
  }
  const results = exit.state.outputs?.results;
  if (!results || !fs.existsSync(results))
    throw new ImageSearchError('the search produced no results file (see the vembed log)');
  return JSON.parse(fs.readFileSync(results, 'utf8')) as ImageSearchHit[];
}
