/** `vembed export onnx`: a model as a deployable ONNX file (onnx/dinov2Graph.ts says what the graph holds). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import { dinov2OnnxGraph, INPUT_NAME, OUTPUT_NAME } from '../../onnx/dinov2Graph';
import { ModelTooLarge, OPSET, type WrittenModel } from '../../onnx/graph';
import { encoderForInference } from '../../run/modelSetup';
import { withPrecision } from '../../onnx/precision';
import { PRECISION_OPTION, precisionFrom } from './precisionOption';
import { writeFileAtomicWith } from '../../../shared/fs/atomic';
import { backendFromOptions } from './backendOption';
import { MODEL_OPTION, poolFrom, POOL_OPTION } from './modelOptions';

export const EXPORT_VERSION = '0.1.0';

export const exportOnnxCommand: Command = {
  name: 'export onnx',
  summary: 'Write a model as an ONNX file: input pixel_values [N, 3, H, W] float32, output embedding [N, D] float32.',
  usage:
    '--model DIR_OR_ID --out FILE.onnx [--size PX] [--pool cls|mean] [--precision fp32|fp16|int8] [--external_data]',
  description: [
    `The input is normalised as the model's preprocessor_config.json says (rescale, mean, std; NCHW, RGB); the output is what \`vembed embed\` writes (pooled, projected if the model has a head, not L2-normalised).`,
    `The batch dimension is dynamic; H and W are fixed to --size (the position embeddings are resized for it when the file is written). A LoRA adapter is merged into the weights. Opset ${OPSET}; weights inside the file, or in FILE.onnx.data next to it (ONNX external data) with --external_data or when the model is over 2 GB.`,
  ].join(' '),
  options: [
    MODEL_OPTION,
    {
      name: 'out',
      type: 'string',
      metavar: 'FILE.onnx',
      required: true,
      description: 'Where to write the model (atomically).',
    },
    {
      name: 'size',
      type: 'integer',
      metavar: 'PX',
      description:
        "Input height and width (a multiple of the patch size, 14 for DINOv2); default: the model's preprocessor_config.json crop size.",
    },
    POOL_OPTION,
    PRECISION_OPTION,
    {
      name: 'external_data',
      type: 'boolean',
      description:
        'Weights in FILE.onnx.data next to the model (automatic over 2 GB, where one file cannot hold them).',
    },
  ],
  async run(ctx) {
    const { args, reporter, signal } = ctx;
    const o = args.options;
    const out = path.resolve(o.out as string);
    if (!out.endsWith('.onnx')) throw new UsageError(`--out must name a .onnx file, got ${o.out as string}`);
    const size = o.size as number | undefined;
    const precision = precisionFrom(o.precision);
    if (size !== undefined && (!Number.isInteger(size) || size < 1))
      throw new UsageError(`--size must be a positive integer, got ${String(size)}`);
    const started = performance.now();
    // The model is read with the TF.js backend (its weights and their resize live there).
    const backend = await backendFromOptions({}, reporter);
    reporter.event({ type: 'run_started', command: 'export onnx', backend: backend.name, device: backend.device });
    // Loaded at its own size; the graph is built for --size (the position table is resized for it).
    const encoder = await encoderForInference(
      o.model as string,
      { reporter, signal, baseDir: process.cwd() },
      { pooling: poolFrom(o.pool) },
    );
    try {
      const px = size ?? encoder.processing.imageSize;
      const p = encoder.config.patchSize;
      if (px % p !== 0)
        throw new UserError(
          `--size ${px} is not a multiple of the model's patch size ${p}`,
          `Try --size ${Math.max(1, Math.round(px / p)) * p}.`,
        );
      const graph = withPrecision(dinov2OnnxGraph(encoder, { height: px, width: px, layout: 'nchw' }), precision);
      const producer = { name: 'vembed', version: EXPORT_VERSION };
      const dataName = `${path.basename(out)}.data`;
      let written: WrittenModel;
      if (o.external_data === true) written = graph.toModelWithExternalData(producer, dataName);
      else {
        try {
          written = { model: graph.toModel(producer), data: [] };
        } catch (e) {
          if (!(e instanceof ModelTooLarge)) throw e;
          reporter.info(`${e.message}: writing ${dataName} next to it`);
          written = graph.toModelWithExternalData(producer, dataName);
        }
      }
      const writeChunks = (file: string, chunks: readonly Uint8Array[]) =>
        writeFileAtomicWith(file, (fd) => {
          for (const chunk of chunks) {
            for (let at = 0; at < chunk.byteLength;) at += fs.writeSync(fd, chunk, at);
          }
        });
      // The data first: a model file is never there without the data it names.
      if (written.data.length > 0) writeChunks(path.join(path.dirname(out), dataName), written.data);
      else fs.rmSync(path.join(path.dirname(out), dataName), { force: true });
      writeChunks(out, written.model.chunks());
      const model = written.model;
      const dataBytes = written.data.reduce((a, c) => a + c.byteLength, 0);
      const mb = ((model.byteLength + dataBytes) / 1e6).toFixed(1);
      reporter.info(
        `wrote ${out}${dataBytes > 0 ? ` and ${dataName}` : ''} (${mb} MB): ${INPUT_NAME} float32 [N, 3, ${px}, ${px}] -> ${OUTPUT_NAME} float32 [N, ${encoder.embeddingDim}] (${encoder.pooling} pooling${encoder.projectionDim ? `, projection to ${encoder.projectionDim}` : ''}${encoder.loraSettings ? ', LoRA merged' : ''}, ${precision}); normalise with mean ${JSON.stringify(encoder.processing.mean)}, std ${JSON.stringify(encoder.processing.std)} after scaling by ${encoder.processing.rescaleFactor}`,
      );
      reporter.event({
        type: 'finished',
        status: 'completed',
        seconds: (performance.now() - started) / 1000,
        outputs: { model: out },
      });
      return 0;
    } finally {
      encoder.dispose();
    }
  },
};
