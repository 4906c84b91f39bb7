import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import { writeNpy } from '../../../shared/artifacts/npy';
import { checkWritableDir } from '../../../shared/fs/makeDirs';
import { checkOutputFile } from '../../../shared/fs/outputPath';
import { INFERENCE_OPTIONS, MODEL_OPTION, withInferenceModel } from './modelOptions';

/** Image paths from a list file: one a line, blank lines and # comments skipped, relative to the list's folder. */
function readList(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read the image list ${file}: ${(e as Error).message}`);
  }
  const dir = path.dirname(path.resolve(file));
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => path.resolve(dir, l));
}

export const embedCommand: Command = {
  name: 'embed',
  summary: 'Embed images with a model into a NumPy .npy file ([N, D] float32, in input order).',
  usage: '--model DIR_OR_ID --out FILE.npy [IMAGE...] [--list FILE] [--pool cls|mean] [--batch_size N]',
  description:
    'The embeddings are the pooled (and projected, if the model has a head) outputs, not normalised. Images come from the arguments, then from --list (one path a line, relative to the list file).',
  options: [
    MODEL_OPTION,
    { name: 'out', type: 'string', metavar: 'FILE.npy', required: true, description: 'Where to write the embeddings.' },
    { name: 'list', type: 'string', metavar: 'FILE', description: 'A file listing image paths, one a line.' },
    ...INFERENCE_OPTIONS,
  ],
  async run(ctx) {
    const { args, reporter } = ctx;
    const o = args.options;
    const images = [...args.positionals.map((p) => path.resolve(p)), ...(o.list ? readList(o.list as string) : [])];
    if (images.length === 0) throw new UsageError('no images: give image paths and/or --list FILE');
    const out = path.resolve(o.out as string);
    if (!out.endsWith('.npy')) throw new UsageError(`--out must name a .npy file, got ${o.out as string}`);
    // Before any work: --out may be written as a regular file, and its folder can be made and written.
    checkOutputFile(o.out as string, '--out');
    checkWritableDir(path.dirname(out));
    const started = performance.now();
    return withInferenceModel(o.model as string, 'embed', ctx, async ({ encoder, embed }) => {
      const data = await embed(images, (done, total) =>
        reporter.event({ type: 'progress', task: 'embedding', done, total, unit: 'images' }),
      );
      writeNpy(out, { dtype: '<f4', shape: [images.length, encoder.embeddingDim], data });
      reporter.info(
        `wrote ${out}: ${images.length} x ${encoder.embeddingDim} float32 (${encoder.pooling} pooling, ${encoder.processing.imageSize}px)`,
      );
      reporter.event({
        type: 'finished',
        status: 'completed',
        seconds: (performance.now() - started) / 1000,
        outputs: { embeddings: out },
      });
      return 0;
    });
  },
};
