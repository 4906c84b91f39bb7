/** Everything said about a config: schema checks plus checks against the file system. */
import { validateConfigText, type Diagnostic } from '../config/validate';
import { workspaceChecks, type FileProbe } from '../config/workspaceChecks';

export function diagnoseConfig(text: string, baseDir: string, files: FileProbe): Diagnostic[] {
  const v = validateConfigText(text);
  return [...v.diagnostics, ...workspaceChecks(v.entries, baseDir, files)];
}
