/**
 * Worker thread of the parallel embedder (bundled as `embed-worker.js` next
 * to the engine bundle). The wasm backend runs on one thread per instance,
 * so each worker has its own, with its own copy of the encoder, and embeds
 * whole batches exactly as the main thread would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { activateBackend } from '../backend/ladder';
import { tf } from '../backend/tf';
import { encoderFromSnapshot } from '../model/snapshot';
import { wasmHeapBytes } from '../train/parallel/memory';
import { embedPixels } from './embedPixels';
import type { EmbedReply, EmbedRequest, EmbedWorkerInit } from './embedWorkerProtocol';

const port = parentPort;
if (!port) throw new Error('embedWorker must run in a worker thread');

function reply(message: EmbedReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function main(): Promise<void> {
  const backend = await activateBackend('wasm');
  const init = workerData as Partial<EmbedWorkerInit>;
  const encoder = encoderFromSnapshot(init.snapshot!);
  delete init.snapshot; // the weights live in the wasm heap now; let the copy go
  port!.on('message', (request: EmbedRequest) => {
    if (request.type === 'memory') {
      reply({ type: 'memory', id: request.id, wasmHeapBytes: wasmHeapBytes(), tfBytes: tf.memory().numBytes });
      return;
    }
    embedPixels(encoder, { data: request.data, n: request.n, height: request.size, width: request.size })
      .then((data) => reply({ type: 'embedded', id: request.id, data }, [data.buffer as ArrayBuffer]))
      .catch((e: unknown) =>
        reply({ type: 'error', id: request.id, message: (e as Error).message, stack: (e as Error).stack }),
      );
  });
  reply({ type: 'ready', device: backend.device });
}

main().catch((e: unknown) => reply({ type: 'error', message: (e as Error).message, stack: (e as Error).stack }));
