/**
 * Download progress as an engine `progress` event, so a command can pass
 * `onProgress: (p) => reporter.event(downloadProgressEvent(p))`.
 */
import type { EventBody } from '../../shared/protocol';
import type { ModelProgress } from './resolve';

export function downloadProgressEvent(p: ModelProgress, repoId?: string): EventBody {
  return {
    type: 'progress',
    task: `download ${repoId ? `${repoId}/` : ''}${p.file}`,
    done: p.done,
    ...(p.total !== undefined ? { total: p.total } : {}),
    unit: 'bytes',
  };
}
