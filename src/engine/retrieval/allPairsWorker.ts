/**
 * Worker thread of the all-against-all evaluation (bundled as
 * `search-worker.js` next to the engine bundle). The wasm backend runs one
 * thread per instance, so each worker loads its own and takes block pairs
 * from the coordinator (allPairs.ts) one at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { activateBackend } from '../backend/ladder';
import { AllPairsEngine, type EngineInputs } from './allPairsEngine';
import type { WorkerReply, WorkerRequest } from './allPairsProtocol';

const port = parentPort;
if (!port) throw new Error('allPairsWorker must run in a worker thread');

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function main(): Promise<void> {
  const backend = await activateBackend('wasm');
  const engine = new AllPairsEngine((workerData as { inputs: EngineInputs }).inputs);
  port!.on('message', (request: WorkerRequest) => {
    try {
      if (request.type === 'task') {
        const pairs = engine.run(request.task.i, request.task.j, request.task.mode);
        reply(
          { type: 'done', pairs },
          pairs
            ? [pairs.a.buffer as ArrayBuffer, pairs.b.buffer as ArrayBuffer, pairs.score.buffer as ArrayBuffer]
            : [],
        );
      } else if (request.type === 'members') {
        engine.setMembers(request.score, request.id);
        reply({ type: 'members-set' });
      } else if (request.type === 'finish') {
        const state = engine.finish();
        const n = state.neighbours;
        reply(
          { type: 'state', state },
          [state.beatenBy, n.scores, n.ids, n.fill, n.thresholdScore, n.thresholdId].map(
            (a) => a.buffer as ArrayBuffer,
          ),
        );
      }
    } catch (e) {
      reply({ type: 'error', message: (e as Error).message, stack: (e as Error).stack });
    }
  });
  reply({ type: 'ready', device: backend.device });
}

main().catch((e: unknown) => reply({ type: 'error', message: (e as Error).message, stack: (e as Error).stack }));
