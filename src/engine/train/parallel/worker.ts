/**
 * Worker thread of the parallel gradient cache (bundled as
 * `gradient-worker.js` next to the engine bundle): a wasm backend and a copy
 * of the encoder, which embeds and back-propagates the chunks it is given
 * exactly as the main thread's gradient cache does (same functions, same
 * dropout seeds). Pixels come with every request and are not kept, so a
 * worker's memory does not depend on the batch size; only the running sums
 * of its parameter gradients live between requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { activateBackend } from '../../backend/ladder';
import { tf, type Tensor } from '../../backend/tf';
import { assignTrainableValues, encoderFromSnapshot } from '../../model/snapshot';
import type { PixelBatch } from '../../model/types';
import { accumulateGradients, chunkParameterGradients, embedChunk, trainableList } from '../gradients';
import { wasmHeapBytes } from './memory';
import type { EmbedJob, GradientReply, GradientRequest, GradientWorkerInit } from './protocol';

const port = parentPort;
if (!port) throw new Error('the gradient worker must run in a worker thread');

function reply(message: GradientReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function pixelsOf(job: EmbedJob): PixelBatch {
  return { data: job.pixels, n: job.count, height: job.height, width: job.width };
}

async function main(): Promise<void> {
  await activateBackend('wasm');
  const init = workerData as Partial<GradientWorkerInit>;
  const encoder = encoderFromSnapshot(init.snapshot!);
  delete init.snapshot; // the weights live in the wasm heap now; let the copy go
  let sums = new Map<string, Tensor>();

  const handle = (request: GradientRequest): void => {
    if (request.type === 'sync') {
      // A new step: sums left by an interrupted one are stale.
      for (const g of sums.values()) g.dispose();
      sums = new Map();
      assignTrainableValues(encoder, request.values);
      reply({ type: 'synced' });
    } else if (request.type === 'embed') {
      const { job } = request;
      const emb = tf.tidy(() =>
        embedChunk(
          encoder,
          pixelsOf(job),
          job.side,
          { index: job.index, start: 0, count: job.count },
          request.settings,
        ),
      );
      const embedding = emb.dataSync() as Float32Array;
      emb.dispose();
      reply({ type: 'embedded', embedding }, [embedding.buffer as ArrayBuffer]);
    } else if (request.type === 'backward') {
      const { job } = request;
      const upstream = tf.tensor2d(job.upstream, [job.count, job.upstream.length / job.count]);
      try {
        accumulateGradients(
          sums,
          chunkParameterGradients(
            encoder,
            trainableList(encoder),
            pixelsOf(job),
            job.side,
            { index: job.index, start: 0, count: job.count },
            upstream,
            request.settings,
          ),
        );
      } finally {
        upstream.dispose();
      }
      reply({ type: 'accumulated' });
    } else if (request.type === 'collect') {
      const grads = new Map<string, Float32Array>();
      for (const [name, g] of sums) grads.set(name, g.dataSync() as Float32Array);
      for (const g of sums.values()) g.dispose();
      sums = new Map();
      reply(
        { type: 'gradients', grads },
        [...grads.values()].map((g) => g.buffer as ArrayBuffer),
      );
    } else if (request.type === 'memory') {
      reply({ type: 'memory', wasmHeapBytes: wasmHeapBytes(), tfBytes: tf.memory().numBytes });
    }
  };

  port!.on('message', (request: GradientRequest) => {
    try {
      handle(request);
    } catch (e) {
      reply({ type: 'error', message: (e as Error).message, stack: (e as Error).stack });
    }
  });
  reply({ type: 'ready' });
}

main().catch((e: unknown) => reply({ type: 'error', message: (e as Error).message, stack: (e as Error).stack }));
