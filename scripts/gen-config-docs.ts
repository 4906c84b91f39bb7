// Writes the artifacts derived from the config schema (see src/shared/config/derive.ts).
import * as path from 'node:path';
import { toJsonSchema, toMarkdownReference } from '../src/shared/config/derive';
import { writeFileAtomic } from '../src/shared/fs/atomic';

export const GENERATED_FILES: Record<string, () => string> = {
  'schemas/vembed-config.schema.json': () => JSON.stringify(toJsonSchema('strict'), null, 2) + '\n',
  'schemas/vembed-config.editor.schema.json': () => JSON.stringify(toJsonSchema('editor'), null, 2) + '\n',
  'docs/config-reference.md': () => toMarkdownReference(),
};

if (require.main === module) {
  const root = path.resolve(__dirname, '..');
  for (const [file, make] of Object.entries(GENERATED_FILES)) {
    writeFileAtomic(path.join(root, file), make());
    console.log(`wrote ${file}`);
  }
}
