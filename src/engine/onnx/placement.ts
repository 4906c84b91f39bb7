/**
 * Where ONNX Runtime puts each node of the engine's graphs: how many nodes
 * each execution provider got, which compute nodes fell back to the CPU
 * while a device was asked for, and how many copies between host and device
 * a run makes (`vembed doctor --placement`).
 *
 * ONNX Runtime says where nodes went only in its verbose session log
 * ("Node placements"), which its native code writes to the process's
 * stderr, so the sessions are made in a child process whose stderr is read
 * here, each under its own log id. The same child writes the graph as ONNX
 * Runtime optimised it for the provider (fused and inserted nodes
 * included), read back by modelReader.ts to tell a compute node from shape
 * arithmetic:
 *
 * - a compute node reads tensor data: a value that comes, through any
 *   nodes, from a graph input or a floating-point weight. Shape and Size
 *   end that chain (their output is a shape, not data);
 * - everything else is shape arithmetic on a few int64 numbers (Shape ->
 *   Gather -> Concat -> Expand's shape input). ONNX Runtime keeps it on the
 *   CPU on purpose, and it needs no copy: the kernels read those inputs from
 *   host memory.
 *
 * Copies: each run copies every fed tensor to the device and every fetched
 * output back; a CPU node between device nodes adds MemcpyFromHost /
 * MemcpyToHost nodes, counted here per run.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Dinov2ImageEncoder } from '../model/encoder';
import { adapterFromLoaderLog, adapterReportingEnv, withoutLoaderLog, type WebGpuAdapter } from './adapter';
import { dinov2OnnxModel } from './dinov2Graph';
import { readModelStructure, type ModelStructure } from './modelReader';
import { loadOnnxRuntime, type OnnxDevice } from './runtime';
import { trainingGraphs } from './trainGraph';

export interface LabelledGraph {
  label: string;
  bytes: Uint8Array;
  /** How many times one pass of the model runs it (layers of one structure share a graph). */
  uses?: number;
}

export interface GraphPlacement {
  label: string;
  uses: number;
  /** Nodes per execution provider, by ONNX Runtime's name without "ExecutionProvider" (WebGpu, CPU, ...). */
  byProvider: Record<string, number>;
  nodes: number;
  /** Nodes that read tensor data (see the file comment), copy nodes left out. */
  computeNodes: number;
  /** Compute nodes on the CPU although another provider was asked for: each one costs copies and CPU time. */
  cpuFallbacks: Array<{ opType: string; name: string }>;
  /** Shape arithmetic on the CPU (by design; no copy). */
  cpuShapeNodes: number;
  /** MemcpyFromHost / MemcpyToHost nodes: copies each run makes inside the graph. */
  copyNodes: number;
  /** Graph inputs and outputs: a run copies each input it is fed to the device and each output back. */
  inputs: number;
  outputs: number;
}

export interface PlacementResult {
  device: OnnxDevice;
  graphs: GraphPlacement[];
  /** WebGPU: the adapter the sessions got (adapter.ts). */
  adapter?: WebGpuAdapter;
}

// Runs in the child: makes each session with the verbose log under its own id and writes the optimised graph.
const CHILD = `
const ort = require(process.argv[1]);
const fs = require('fs');
const path = require('path');
const [device, dir, count] = process.argv.slice(2);
(async () => {
  for (let i = 0; i < Number(count); i++) {
    const s = await ort.InferenceSession.create(fs.readFileSync(path.join(dir, i + '.onnx')), {
      executionProviders: [device],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 0,
      logId: 'vembed-graph-' + i,
      optimizedModelFilePath: path.join(dir, i + '.optimized.onnx'),
    });
    await s.release();
  }
})().catch((e) => { process.stderr.write('\\nvembed-placement-error: ' + String(e && e.message || e) + '\\n'); process.exit(1); });
`;

const PLACED =
  /\[V:onnxruntime:vembed-graph-(\d+),[^\]]*\]\s+(?:All nodes|Node\(s\)) placed on \[(\w+?)(?:ExecutionProvider)?\]\. Number of nodes: (\d+)/;
const NODE = /\[V:onnxruntime:vembed-graph-(\d+),[^\]]*VerifyEachNodeIsAssignedToAnEp\]\s{3}(\S+) \((.*)\)\s*$/;

/** Where one graph's nodes went: per provider, the count and (when ONNX Runtime lists them) the nodes. */
export type ProviderNodes = Map<string, { count: number; nodes: Array<[opType: string, name: string]> }>;

/**
 * Per graph index, from the verbose log. With every node on one provider
 * ONNX Runtime gives only the count ("All nodes placed on ..."); otherwise it
 * lists each provider's nodes.
 */
export function parsePlacementLog(log: string): Map<number, ProviderNodes> {
  const out = new Map<number, ProviderNodes>();
  const current = new Map<number, string>();
  for (const raw of log.split('\n')) {
    // eslint-disable-next-line no-control-regex
    const line = raw.replace(/\u001b\[[0-9;]*m/g, '');
    const placed = PLACED.exec(line);
    if (placed) {
      const graph = Number(placed[1]);
      current.set(graph, placed[2]!);
      if (!out.has(graph)) out.set(graph, new Map());
      out.get(graph)!.set(placed[2]!, { count: Number(placed[3]), nodes: [] });
      continue;
    }
    const node = NODE.exec(line);
    if (node) {
      const graph = Number(node[1]);
      const provider = current.get(graph);
      if (provider) out.get(graph)!.get(provider)!.nodes.push([node[2]!, node[3]!]);
    }
  }
  return out;
}

const FLOAT_TYPES = new Set([1, 10, 11, 16]); // float, float16, double, bfloat16
const SHAPE_OF = new Set(['Shape', 'Size']);
const COPY = /^Memcpy(From|To)Host$/;

/** Names of the nodes that read tensor data (see the file comment). */
export function computeNodeNames(model: ModelStructure): Set<string> {
  const data = new Set(model.inputs);
  for (const [name, type] of model.initializers) if (FLOAT_TYPES.has(type)) data.add(name);
  const compute = new Set<string>();
  // Until nothing changes: a written graph is normally in topological order, but nothing here relies on it.
  for (let changed = true; changed;) {
    changed = false;
    for (const node of model.nodes) {
      if (SHAPE_OF.has(node.opType) || !node.inputs.some((i) => data.has(i))) continue;
      // A copy carries data on (to the node it feeds) but computes nothing.
      if (!COPY.test(node.opType) && !compute.has(node.name)) {
        compute.add(node.name);
        changed = true;
      }
      for (const o of node.outputs)
        if (!data.has(o)) {
          data.add(o);
          changed = true;
        }
    }
  }
  return compute;
}

function summarise(
  graph: LabelledGraph,
  placed: ProviderNodes | undefined,
  optimized: ModelStructure,
  device: OnnxDevice,
): GraphPlacement {
  if (!placed || placed.size === 0)
    throw new Error(`ONNX Runtime's log did not say where the nodes of "${graph.label}" went`);
  const compute = computeNodeNames(optimized);
  const known = new Set(optimized.nodes.map((n) => n.name));
  const byProvider: Record<string, number> = {};
  const cpuFallbacks: GraphPlacement['cpuFallbacks'] = [];
  let cpuShapeNodes = 0;
  let copyNodes = optimized.nodes.filter((n) => COPY.test(n.opType)).length;
  let listedCopies = 0;
  for (const [provider, { count, nodes }] of placed) {
    byProvider[provider] = count;
    for (const [opType, name] of nodes) {
      if (COPY.test(opType)) {
        listedCopies++;
        continue;
      }
      if (provider !== 'CPU' || device === 'cpu') continue;
      // A node the optimised graph does not hold cannot be judged: count it as compute, so it is not hidden.
      if (compute.has(name) || !known.has(name)) cpuFallbacks.push({ opType, name });
      else cpuShapeNodes++;
    }
  }
  copyNodes = Math.max(copyNodes, listedCopies);
  return {
    label: graph.label,
    uses: graph.uses ?? 1,
    byProvider,
    nodes: Object.values(byProvider).reduce((a, b) => a + b, 0),
    computeNodes: compute.size,
    cpuFallbacks,
    cpuShapeNodes,
    copyNodes,
    inputs: optimized.inputs.length,
    outputs: optimized.outputs.length,
  };
}

/**
 * Make a session for each graph on `device` in a child process and report
 * where ONNX Runtime put the nodes. `env`: the child's environment (default
 * this process's).
 */
export async function placeGraphs(
  graphs: readonly LabelledGraph[],
  device: OnnxDevice,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<PlacementResult> {
  const loaded = loadOnnxRuntime();
  if ('error' in loaded) throw new Error(`ONNX Runtime is not available: ${loaded.error}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-placement-'));
  try {
    graphs.forEach((g, i) => fs.writeFileSync(path.join(dir, `${i}.onnx`), g.bytes));
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', CHILD, loaded.location, device, dir, String(graphs.length)], {
        env: adapterReportingEnv(options.env ?? process.env),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const chunks: Buffer[] = [];
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      const timer = setTimeout(() => child.kill(), options.timeoutMs ?? 300_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const log = Buffer.concat(chunks).toString('utf8');
        if (code === 0) resolve(log);
        else {
          const why = /vembed-placement-error: (.*)/.exec(log)?.[1] ?? `exit ${code ?? signal}`;
          reject(new Error(`ONNX Runtime could not make the ${device} sessions: ${why}`));
        }
      });
    });
    const placed = parsePlacementLog(withoutLoaderLog(stderr));
    return {
      device,
      graphs: graphs.map((g, i) =>
        summarise(g, placed.get(i), readModelStructure(fs.readFileSync(path.join(dir, `${i}.optimized.onnx`))), device),
      ),
      ...(device === 'webgpu' ? { adapter: adapterFromLoaderLog(stderr) } : {}),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Every graph the engine builds for an encoder at its own input size: the
 * forward graph (embedding, evaluation, search) and, when it trains, the
 * gradient cache's embedding pass and backward parts (trainGraph.ts; the
 * layers' shared graph once, with how many layers use it).
 */
export function engineGraphs(encoder: Dinov2ImageEncoder): LabelledGraph[] {
  const size = encoder.processing.imageSize;
  const graphs: LabelledGraph[] = [
    {
      label: 'forward (embedding, evaluation, search)',
      bytes: dinov2OnnxModel(encoder, { height: size, width: size, layout: 'nhwc' }, 'engine').toBytes(),
    },
  ];
  if (encoder.trainableSet === 'none') return graphs;
  const dropout = encoder.trainableSet === 'lora' && (encoder.loraSettings?.dropout ?? 0) > 0;
  const t = trainingGraphs(encoder, { height: size, width: size, loraDropout: dropout });
  const mode = encoder.trainableSet === 'lora' ? `LoRA${dropout ? ' + dropout' : ''}` : 'full';
  graphs.push({ label: `training (${mode}): embedding pass`, bytes: t.forward });
  const byHash = new Map<string, LabelledGraph>();
  for (const part of t.backward) {
    const key = createHash('sha256').update(part.bytes).digest('hex');
    const seen = byHash.get(key);
    if (seen) {
      seen.uses = (seen.uses ?? 1) + 1;
      continue;
    }
    const what = part.segment.kind === 'layer' ? 'layer' : part.segment.kind;
    const g: LabelledGraph = { label: `training (${mode}): backward ${what}`, bytes: part.bytes, uses: 1 };
    byHash.set(key, g);
    graphs.push(g);
  }
  return graphs;
}

/** The placement as a table, one line per graph, and the CPU fallbacks by name. */
export function formatPlacement(result: PlacementResult): string[] {
  const lines = [
    'graph                                              nodes  compute  on device  CPU fallbacks  CPU shape ops  copy nodes  inputs/outputs',
  ];
  for (const g of result.graphs) {
    const device = Object.entries(g.byProvider)
      .filter(([p]) => p !== 'CPU')
      .reduce((s, [, n]) => s + n, 0);
    const label = g.uses > 1 ? `${g.label} (x${g.uses})` : g.label;
    lines.push(
      `${label.padEnd(50)} ${String(g.nodes).padStart(5)}  ${String(g.computeNodes).padStart(7)}  ${String(result.device === 'cpu' ? g.nodes : device).padStart(9)}  ${String(g.cpuFallbacks.length).padStart(13)}  ${String(g.cpuShapeNodes).padStart(13)}  ${String(g.copyNodes).padStart(10)}  ${`${g.inputs}/${g.outputs}`.padStart(14)}`,
    );
    if (g.cpuFallbacks.length)
      lines.push(`    on the CPU: ${g.cpuFallbacks.map((n) => `${n.opType} (${n.name})`).join(', ')}`);
  }
  return lines;
}
