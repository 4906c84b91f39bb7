/**
 * The gradient cache on ONNX Runtime: the chunks' embedding and backward
 * passes run as the graphs of trainGraph.ts, the batch loss and its
 * embedding gradients stay in TF.js (train/gradients.ts,
 * lossAndEmbeddingGradients: a few [n, D] products, nothing to speed up),
 * and the result is a `BatchGradients` as the TF.js path returns, with the
 * gradients as host values (clipping and AdamW read them there), so the
 * step's clipping, AdamW, checkpoints and schedules are the same code.
 *
 * Same contract as GradientLanes.cachedGradients (train/parallel/lanes.ts):
 * chunks in the same order, the same per-chunk dropout seeds and masks
 * (model/ops.ts, dropoutMaskValues), sides given whole or loaded chunk by
 * chunk. Gradients are summed over chunks in float32 in chunk order.
 *
 * For a small model (its whole backward graph's activations within
 * WHOLE_BACKWARD_BYTES for a chunk) the backward pass is one whole-model
 * graph, and consecutive chunks of a side run together, as many as the
 * budget holds: one session run for several chunks, each with its own
 * dropout masks, their gradients summed inside the graph. The same numbers
 * up to float32 rounding (the order of the sums), in a few session runs a
 * step instead of (layers + 3) per chunk. When one such run holds the whole
 * batch, both sides, and the loss is InfoNCE, the step is one run of a graph
 * with the loss inside (wholeStep): the batch is embedded once, not twice.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { tf, type Tensor2D, type Variable } from '../backend/tf';
import { mlpHiddenSize, tokensPerImage, type Dinov2Config } from '../model/config';
import type { Dinov2ImageEncoder } from '../model/encoder';
import { adapterDropoutSeed, dropoutMaskValues } from '../model/steps/linear';
import type { ImageEncoder, PixelBatch } from '../model/types';
import { batchSize, lossAndEmbeddingGradients, type BatchGradients, type GradientOptions } from '../train/gradients';
import { checkLabelCount, checkTemperature, infoNceWeights } from '../train/loss';
import type { LanePairBatch } from '../train/parallel/lanes';
import { chunkPixels, chunkRanges, type AnyPixelSource, type ChunkRange } from '../train/pixels';
import { chunkDropoutSeed, type PairSide } from '../train/seeds';
import { INPUT_NAME, loraMaskName, OUTPUT_NAME, TOKENS_NAME } from './dinov2Graph';
import { createOnnxSession, type OnnxDevice, type OnnxSession } from './runtime';
import {
  layerTokensName,
  SEGMENT_GRAD_NAME,
  TOKENS_GRAD_NAME,
  trainingGraphs,
  wholeBackwardGraph,
  wholeStepGraph,
  type BackwardPart,
  type WholeGraph,
} from './trainGraph';
import { LOGIT_SCALE_NAME, LOSS_NAME, LOSS_WEIGHTS_NAME } from './lossGraph';

type Feed = { data: Float32Array; dims: readonly number[] };
type Feeds = Record<string, Feed>;

/**
 * How many bytes of the embedding pass's layer inputs a step keeps for the
 * backward pass (tokens_0 .. tokens_L per chunk: 41 MB for 8 images of
 * DINOv2-small at 224 px): 1 GiB, or an eighth of the machine's memory where
 * that is less. A kept chunk's backward starts from them; the others run the
 * embedding pass again (the gradient cache's recomputation). Bounded, so that
 * memory stays flat in the batch size.
 */
export const KEPT_TOKENS_BYTES = Math.min(2 ** 30, Math.floor(os.totalmem() / 8));

/**
 * How many bytes of activations a chunk's backward pass may hold at once for
 * it to run as one whole-model graph (wholeBackwardGraph) instead of part by
 * part: 512 MiB, or a sixteenth of the machine's memory where that is less.
 * Small models (the demo's: ~6 MB an image) then take one session run per
 * chunk instead of one per layer; DINOv2-small at 224 px (~160 MB an image)
 * stays part by part.
 */
export const WHOLE_BACKWARD_BYTES = Math.min(2 ** 29, Math.floor(os.totalmem() / 16));

/**
 * Estimated bytes of activations the whole-model backward graph holds per
 * image: per layer the values its backward reads (about ten [T, D] values,
 * the attention scores and probabilities, four [T, MLP] values of the MLP and
 * GELU), doubled for the backward's own temporaries and ONNX Runtime's
 * arena. DINOv2-small at 224 px: 1.3 GB estimated before doubling for 8
 * images, 2.3 GB measured.
 */
export function wholeBackwardBytesPerImage(c: Dinov2Config, height: number, width: number): number {
  const T = tokensPerImage(c, height, width);
  const perLayer = 10 * T * c.hiddenSize + 2 * c.numAttentionHeads * T * T + 4 * T * mlpHiddenSize(c);
  return 2 * 4 * perLayer * c.numHiddenLayers;
}

interface SizeSessions {
  forward: OnnxSession;
  /**
   * The backward parts, from the head down (trainGraph.ts), each with its session; or the one
   * whole-model part (segment kind `model`) when a chunk's activations fit in `wholeBackwardBytes`.
   */
  backward: Array<{ session: OnnxSession; part: BackwardPart }>;
  /** Whether `backward` is the whole-model graph (it starts from the pixels: no layer inputs to keep). */
  whole: boolean;
  /** The distinct sessions (layers of one structure share one). */
  sessions: OnnxSession[];
  params: Array<[string, Variable]>;
  /** The frozen weights the layers' graphs read, by parameter name: read once, they do not change. */
  frozen: Feeds;
  layers: number;
  /** Bytes of one image's layer inputs (tokens_0 .. tokens_L). */
  tokenBytesPerImage: number;
}

/** The feeds a session takes (ONNX Runtime refuses names a graph does not have). */
function feedsFor(session: OnnxSession, all: Feeds): Feeds {
  const out: Feeds = {};
  for (const name of session.inputNames) if (all[name]) out[name] = all[name];
  return out;
}

/** One chunk's dropout: the run seed, step and chunk that pick its masks, or none (inference, rate 0). */
export interface ChunkDropout {
  seed: number;
  step: number;
  side: PairSide;
  chunkIndex: number;
}

/**
 * The dropout of a run of consecutive chunks, in order: each chunk's images and its dropout. One
 * session run may compute several chunks, of both sides (see cachedGradients); each keeps its masks.
 */
export type RunDropout = ReadonlyArray<{ count: number; dropout: ChunkDropout | null }>;

/** One session run of a step: consecutive chunks (of either side) in order, their images, their dropout. */
interface SessionRun {
  parts: ReadonlyArray<{ side: PairSide; source: AnyPixelSource } & ChunkRange>;
  count: number;
  dropout: RunDropout;
}

/** A run's pixels, its chunks' one after the other. */
function loadRun(run: SessionRun): Promise<PixelBatch> {
  return joinChunks(
    run.parts.map((c) => chunkPixels(c.source, c.start, c.count, `${c.side} images`)),
    run.count,
  );
}

/** Consecutive chunks grouped into runs of at most `images` images (a chunk larger than that runs alone). */
export function groupChunks<C extends { count: number }>(ranges: readonly C[], images: number): C[][] {
  const runs: C[][] = [];
  let count = 0;
  for (const r of ranges) {
    const last = runs[runs.length - 1];
    if (last && count + r.count <= images) {
      last.push(r);
      count += r.count;
    } else {
      runs.push([r]);
      count = r.count;
    }
  }
  return runs;
}

/** Float arrays one after the other, in one new array. */
function concatFloats(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A run's chunks' pixels as one batch of `count` images (one chunk: as loaded). */
async function joinChunks(loading: ReadonlyArray<Promise<PixelBatch>>, count: number): Promise<PixelBatch> {
  const chunks = await Promise.all(loading);
  if (chunks.length === 1) return chunks[0]!;
  const { height, width } = chunks[0]!;
  if (chunks.some((c) => c.height !== height || c.width !== width))
    throw new Error('internal: the chunks of one session run have different image sizes');
  return { data: concatFloats(chunks.map((c) => c.data)), n: count, height, width };
}

/** One chunk's dropout as a run of one chunk. */
function asRun(px: PixelBatch, dropout: ChunkDropout | null | RunDropout): RunDropout {
  return Array.isArray(dropout) ? dropout : [{ count: px.n, dropout: dropout as ChunkDropout | null }];
}

/** Seconds spent per part of the last step (for the benchmark's breakdown). */
export interface StepTimings {
  /** ONNX Runtime running the embedding pass. */
  forward: number;
  /** ONNX Runtime running the backward pass (with the layer inputs of chunks not kept). */
  backward: number;
  /** Drawing the LoRA dropout masks (JavaScript), for both passes. */
  masks: number;
  /** The batch loss and its embedding gradients. */
  loss: number;
  /** Waiting for chunks' pixels. */
  data: number;
  /** Reading the weights once a step, summing the runs' gradients. */
  other: number;
}

export interface OnnxTrainerOptions {
  device: OnnxDevice;
  threads: number;
  /** Bytes of layer inputs a step may keep (default KEPT_TOKENS_BYTES; 0: every chunk computes them again). */
  keptTokensBytes?: number;
  /**
   * The images of the largest chunk a step will hand over (the gradient cache's chunk size, or the
   * batch size without the cache): with its activations within `wholeBackwardBytes` the backward pass
   * runs as one whole-model graph. Default: part by part.
   */
  chunkSize?: number;
  /** Bytes of activations the whole-model backward graph may hold (default WHOLE_BACKWARD_BYTES). */
  wholeBackwardBytes?: number;
  /**
   * The run's batch (pairs) and loss, when known: where its steps will be one-run steps (wholeStep),
   * create() builds that graph's session too, so that a graph that fails, fails there. Without them it is
   * built on the first such step.
   */
  batch?: { pairs: number; lossType: string };
}

export class OnnxGradients {
  /** Gradient lanes in use: ONNX Runtime spreads each graph over its own threads. */
  readonly size = 1;
  /** Every step runs here, also when one chunk holds the batch (see train/step.ts). */
  readonly wholeBatches = true;
  lastTimings: StepTimings = { forward: 0, backward: 0, masks: 0, loss: 0, data: 0, other: 0 };
  /** ONNX Runtime session runs of the last step (embedding and backward passes). */
  lastSessionRuns = 0;
  /** Session runs since the step began. */
  private sessionRuns = 0;
  /** Seconds spent drawing dropout masks since the step began. */
  private maskSeconds = 0;
  private readonly sessions = new Map<string, Promise<SizeSessions>>();
  /** The whole-step graph's session per input size (wholeStep), made on first use. */
  private readonly stepSessions = new Map<string, Promise<{ session: OnnxSession; graph: WholeGraph }>>();

  private constructor(
    readonly encoder: Dinov2ImageEncoder,
    private readonly options: OnnxTrainerOptions,
  ) {}

  /** Graphs for the encoder's own input size, sessions ready: a provider or graph that fails, fails here. */
  static async create(encoder: Dinov2ImageEncoder, options: OnnxTrainerOptions): Promise<OnnxGradients> {
    const t = new OnnxGradients(encoder, options);
    const size = encoder.processing.imageSize;
    try {
      const s = await t.sessionsFor(size, size);
      const batch = options.batch;
      // Its steps are one run where both sides' images fit one whole-model run (cachedGradients' grouping).
      const oneRun = batch && 2 * batch.pairs <= t.wholeRunImages(size, size, options.chunkSize ?? batch.pairs);
      if (oneRun && t.takesWholeStep(s, batch.lossType)) await t.stepSessionFor(size, size);
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  /** LoRA dropout rate of the trainable adapters, 0 without. */
  private get dropoutRate(): number {
    return this.encoder.trainableSet === 'lora' ? (this.encoder.loraSettings?.dropout ?? 0) : 0;
  }

  private sessionsFor(height: number, width: number): Promise<SizeSessions> {
    const key = `${height}x${width}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => {
        const graphOptions = { height, width, loraDropout: this.dropoutRate > 0 };
        const graphs = trainingGraphs(this.encoder, graphOptions, { backward: !this.wholeBackward(height, width) });
        const parts = graphs.backward.length > 0 ? graphs.backward : [wholeBackwardGraph(this.encoder, graphOptions)];
        const sessions: OnnxSession[] = [];
        try {
          const forward = await createOnnxSession(graphs.forward, this.sessionOptions);
          sessions.push(forward);
          const byGraph = new Map<string, OnnxSession>();
          const backward: SizeSessions['backward'] = [];
          for (const part of parts) {
            const key = createHash('sha256').update(part.bytes).digest('hex');
            let session = byGraph.get(key);
            if (!session) {
              session = await createOnnxSession(part.bytes, this.sessionOptions);
              sessions.push(session);
              byGraph.set(key, session);
            }
            backward.push({ session, part });
          }
          const trainable = new Set(graphs.params.map(([name]) => name));
          const base = this.encoder.baseVariables();
          const frozen: Feeds = {};
          for (const { part } of backward)
            for (const name of part.weights.values()) {
              const v = base.get(name);
              if (!trainable.has(name) && v && !frozen[name])
                frozen[name] = { data: v.dataSync() as Float32Array, dims: v.shape };
            }
          const c = this.encoder.config;
          return {
            forward,
            backward,
            whole: backward[0]?.part.segment.kind === 'model',
            sessions,
            params: graphs.params,
            frozen,
            layers: graphs.layers,
            tokenBytesPerImage: (graphs.layers + 1) * tokensPerImage(c, height, width) * c.hiddenSize * 4,
          };
        } catch (e) {
          await Promise.all(sessions.map((x) => x.release()));
          throw e;
        }
      })();
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Whether a step whose batch is one session run takes it as wholeStep: the whole-model graphs, and InfoNCE. */
  private takesWholeStep(s: SizeSessions, lossType: string): boolean {
    return s.whole && lossType === 'infonce';
  }

  private stepSessionFor(height: number, width: number): Promise<{ session: OnnxSession; graph: WholeGraph }> {
    const key = `${height}x${width}`;
    let s = this.stepSessions.get(key);
    if (!s) {
      s = (async () => {
        const graph = wholeStepGraph(this.encoder, { height, width, loraDropout: this.dropoutRate > 0 });
        return { session: await createOnnxSession(graph.bytes, this.sessionOptions), graph };
      })();
      // A graph or session that failed is not kept: the next step tries again (and says why again).
      s.catch(() => this.stepSessions.delete(key));
      this.stepSessions.set(key, s);
    }
    return s;
  }

  /**
   * The training sessions' settings: idle threads sleep instead of spinning. A step runs many short ops
   * (a small model's especially) and the cores are often shared; on the shared 2-core test machine the
   * demo's step took 3.3-3.4 s instead of 4.8-6.3 s, and 1.15-1.23 s of CPU instead of 1.70-1.75 (load
   * average 15-17, back to back).
   */
  private get sessionOptions() {
    return { device: this.options.device, threads: this.options.threads, spinning: false };
  }

  /** Whether chunks of this size run their backward pass as one whole-model graph (see OnnxTrainerOptions). */
  private wholeBackward(height: number, width: number): boolean {
    const n = this.options.chunkSize;
    // CPU only: it saves per-run costs there, and under WebGPU the full fine-tuning variant placed 2 copy
    // nodes between host and device (`vembed doctor --placement`), where the parts place none.
    if (n === undefined || this.options.device !== 'cpu') return false;
    const budget = this.options.wholeBackwardBytes ?? WHOLE_BACKWARD_BYTES;
    return n * wholeBackwardBytesPerImage(this.encoder.config, height, width) <= budget;
  }

  /**
   * Images one whole-model run may take: as many as fit in the budget, in whole chunks (at least one).
   * The runs' count matters, not their size, for a small model: ONNX Runtime's per-run and per-op costs.
   */
  private wholeRunImages(height: number, width: number, chunkSize: number): number {
    const budget = this.options.wholeBackwardBytes ?? WHOLE_BACKWARD_BYTES;
    const images = Math.floor(budget / wholeBackwardBytesPerImage(this.encoder.config, height, width));
    return Math.max(chunkSize, Math.floor(images / chunkSize) * chunkSize);
  }

  /** The trainable weights' current values, as feeds (read once per step). */
  private weightFeeds(params: Array<[string, Variable]>): Feeds {
    const feeds: Feeds = {};
    for (const [name, v] of params) feeds[name] = { data: v.dataSync() as Float32Array, dims: v.shape };
    return feeds;
  }

  /** The LoRA dropout masks of a run's chunks, one after the other: the values the TF.js path draws for each. */
  private maskFeeds(px: PixelBatch, run: RunDropout): Feeds {
    const t0 = performance.now();
    try {
      if (this.dropoutRate === 0) return {};
      if (run.length === 1) return this.drawMasks(px, run[0]!.dropout);
      const parts = run.map(({ count, dropout }) => this.drawMasks({ ...px, n: count }, dropout));
      const feeds: Feeds = {};
      for (const name of Object.keys(parts[0]!)) {
        const [, ...rest] = parts[0]![name]!.dims;
        feeds[name] = { data: concatFloats(parts.map((part) => part[name]!.data)), dims: [px.n, ...rest] };
      }
      return feeds;
    } finally {
      this.maskSeconds += (performance.now() - t0) / 1000;
    }
  }

  /** The masks of one chunk of `px.n` images (the pixels are not read). */
  private drawMasks(px: Pick<PixelBatch, 'n' | 'height' | 'width'>, dropout: ChunkDropout | null): Feeds {
    const rate = this.dropoutRate;
    if (rate === 0) return {};
    const c = this.encoder.config;
    const tokens = tokensPerImage(c, px.height, px.width);
    const base = dropout ? chunkDropoutSeed(dropout.seed, dropout.step, dropout.side, dropout.chunkIndex) : 0;
    const feeds: Feeds = {};
    // With CLS pooling the TF.js path runs the last layer's linears but key and value on the CLS rows
    // alone (model/dinov2.ts, clsLayerStep), drawing their masks for [n, in]: put those values on the CLS
    // rows (the only rows of those products the embedding reads), so both paths drop the same entries.
    const last = `encoder.layer.${c.numHiddenLayers - 1}.`;
    const clsRowsOnly = (path: string) =>
      this.encoder.pooling === 'cls' && path.startsWith(last) && !/\.(key|value)$/.test(path);
    this.encoder.loraModules().forEach((path, index) => {
      const inF = this.encoder.linearShape(path)[0];
      const length = px.n * tokens * inF;
      const seed = adapterDropoutSeed(base, index);
      let data: Float32Array;
      if (!dropout) data = new Float32Array(length).fill(1);
      else if (!clsRowsOnly(path)) data = dropoutMaskValues(length, rate, seed);
      else {
        const rows = dropoutMaskValues(px.n * inF, rate, seed);
        data = new Float32Array(length).fill(1);
        for (let i = 0; i < px.n; i++) data.set(rows.subarray(i * inF, (i + 1) * inF), i * tokens * inF);
      }
      feeds[loraMaskName(index)] = { data, dims: [px.n, tokens, inF] };
    });
    return feeds;
  }

  private pixelFeed(px: PixelBatch): Feeds {
    return { [INPUT_NAME]: { data: px.data, dims: [px.n, px.height, px.width, 3] } };
  }

  /**
   * One chunk's embeddings [n, E] (row-major), or a run of chunks' (`dropout` a RunDropout). `weights`:
   * from weightFeeds, or read now.
   */
  async embedChunk(px: PixelBatch, dropout: ChunkDropout | null | RunDropout, weights?: Feeds): Promise<Float32Array> {
    return (await this.embedAndKeep(px, asRun(px, dropout), weights, false)).embedding;
  }

  /** embedChunk, and with `keep` the layer inputs its backward pass starts from (chunkGradients' `tokens`). */
  private async embedAndKeep(
    px: PixelBatch,
    dropout: RunDropout,
    weights: Feeds | undefined,
    keep: boolean,
  ): Promise<{ embedding: Float32Array; tokens?: Map<string, Feed> }> {
    const s = await this.sessionsFor(px.height, px.width);
    const feeds = feedsFor(s.forward, {
      ...this.pixelFeed(px),
      ...(weights ?? this.weightFeeds(s.params)),
      ...this.maskFeeds(px, dropout),
    });
    this.sessionRuns++;
    if (!keep) return { embedding: (await s.forward.run(feeds, OUTPUT_NAME)).data };
    const out = await s.forward.runMany(feeds, [OUTPUT_NAME, ...this.tokenNames(s)]);
    const embedding = out.get(OUTPUT_NAME)!.data;
    out.delete(OUTPUT_NAME);
    return { embedding, tokens: out };
  }

  private tokenNames(s: SizeSessions): string[] {
    return Array.from({ length: s.layers + 1 }, (_, i) => layerTokensName(i));
  }

  /**
   * Parameter gradients of ⟨embedding(px), upstream⟩ (upstream [n, E] row-major), by parameter name: the
   * layer inputs of the embedding pass (`tokens` kept from it, or computed now), then the parts' backward
   * graphs from the head down (or the whole-model graph from the pixels). `dropout` a RunDropout: the
   * gradients summed over a run of chunks.
   */
  async chunkGradients(
    px: PixelBatch,
    upstream: Float32Array,
    dropout: ChunkDropout | null | RunDropout,
    weights?: Feeds,
    tokens?: Map<string, Feed>,
  ): Promise<Map<string, Float32Array>> {
    const s = await this.sessionsFor(px.height, px.width);
    const params = weights ?? this.weightFeeds(s.params);
    const masks = this.maskFeeds(px, asRun(px, dropout));
    const pixels = this.pixelFeed(px);
    if (!s.whole && !tokens) this.sessionRuns++;
    const inputs = s.whole
      ? new Map<string, Feed>()
      : (tokens ??
        (await s.forward.runMany(feedsFor(s.forward, { ...pixels, ...params, ...masks }), this.tokenNames(s))));
    const out = new Map<string, Float32Array>();
    let grad: Feed = { data: upstream, dims: [px.n, this.encoder.embeddingDim] };
    for (const { session, part } of s.backward) {
      const seg = part.segment;
      const feeds: Feeds = { [SEGMENT_GRAD_NAME]: grad };
      for (const [input, param] of part.weights) feeds[input] = params[param] ?? s.frozen[param]!;
      for (const [input, mask] of part.masks) feeds[input] = masks[mask]!;
      if (seg.kind === 'embeddings' || seg.kind === 'model') Object.assign(feeds, pixels);
      else feeds[TOKENS_NAME] = inputs.get(layerTokensName(seg.kind === 'head' ? s.layers : seg.index))!;
      const names = part.gradients.map(([output]) => output);
      this.sessionRuns++;
      const result = await session.runMany(
        feedsFor(session, feeds),
        part.tokensGrad ? [...names, TOKENS_GRAD_NAME] : names,
      );
      for (const [output, param] of part.gradients) out.set(param, result.get(output)!.data);
      if (part.tokensGrad) grad = result.get(TOKENS_GRAD_NAME)!;
    }
    return out;
  }

  /** The gradient cache for one batch (see the file comment). */
  async cachedGradients(
    encoder: ImageEncoder,
    batch: LanePairBatch,
    options: GradientOptions,
  ): Promise<BatchGradients<Float32Array>> {
    if (encoder !== this.encoder) throw new Error('internal: ONNX gradients were set up for another encoder');
    const n = batchSize(batch);
    const timings: StepTimings = { forward: 0, backward: 0, masks: 0, loss: 0, data: 0, other: 0 };
    const started = performance.now();
    this.maskSeconds = 0;
    this.sessionRuns = 0;
    const size = this.encoder.processing.imageSize;
    const s0 = await this.sessionsFor(size, size);
    const weights = this.weightFeeds(s0.params);
    const dim = this.encoder.embeddingDim;
    const sides: Array<[PairSide, AnyPixelSource]> = [
      ['query', batch.queries],
      ['positive', batch.positives],
    ];
    const dropoutOf = (side: PairSide, range: ChunkRange): ChunkDropout | null =>
      options.training ? { seed: options.seed, step: options.step, side, chunkIndex: range.index } : null;
    // The session runs: a chunk each, or with the whole-model graph as many consecutive chunks as fit in its
    // memory budget, the query side's then the positive side's (fewer, larger runs: for a small model the
    // runs' count costs, not their size; each chunk keeps its own dropout masks, and a run over both sides
    // sums their gradients inside the graph).
    const perRun = s0.whole ? this.wholeRunImages(size, size, options.chunkSize) : options.chunkSize;
    const runs: SessionRun[] = groupChunks(
      sides.flatMap(([side, source]) =>
        chunkRanges(source.n, options.chunkSize).map((range) => ({ side, source, ...range })),
      ),
      perRun,
    ).map((parts) => ({
      parts,
      count: parts.reduce((k, r) => k + r.count, 0),
      dropout: parts.map((r) => ({ count: r.count, dropout: dropoutOf(r.side, r) })),
    }));

    // The whole batch in one whole-model run: embedding, InfoNCE and backward are one graph (wholeStep).
    if (runs.length === 1 && this.takesWholeStep(s0, options.loss.loss_type))
      return this.wholeStep(runs[0]!, n, batch, options, weights, started);

    // A run's pixels, the next one loading while this one computes; the pass's seconds go to `part`.
    const pass = async (part: 'forward' | 'backward', each: (j: number, px: PixelBatch) => Promise<void>) => {
      const load = (j: number) => loadRun(runs[j]!);
      let next = load(0);
      for (let j = 0; j < runs.length; j++) {
        const t = performance.now();
        const px = await next;
        timings.data += (performance.now() - t) / 1000;
        if (j + 1 < runs.length) {
          next = load(j + 1);
          next.catch(() => undefined); // awaited in the next round
        }
        const g0 = performance.now();
        await each(j, px);
        timings[part] += (performance.now() - g0) / 1000;
      }
    };

    // 1. Embeddings, no gradients; the first chunks' layer inputs kept for their backward pass.
    const embedded = { query: new Float32Array(n * dim), positive: new Float32Array(n * dim) };
    const kept = new Map<number, Map<string, Feed>>();
    let keptBytes = 0;
    await pass('forward', async (j, px) => {
      const run = runs[j]!;
      const sx = await this.sessionsFor(px.height, px.width);
      const bytes = px.n * sx.tokenBytesPerImage;
      const keep = !sx.whole && keptBytes + bytes <= (this.options.keptTokensBytes ?? KEPT_TOKENS_BYTES);
      const { embedding, tokens } = await this.embedAndKeep(px, run.dropout, weights, keep);
      let at = 0;
      for (const c of run.parts) {
        embedded[c.side].set(embedding.subarray(at * dim, (at + c.count) * dim), c.start * dim);
        at += c.count;
      }
      if (tokens) {
        kept.set(j, tokens);
        keptBytes += bytes;
      }
    });
    // The masks drawn so far (since the step began) were drawn inside the embedding pass's timing.
    timings.forward -= this.maskSeconds;

    // 2. The full-batch loss and dLoss/dEmbeddings (TF.js).
    const l0 = performance.now();
    const { loss, grads } = lossAndEmbeddingGradients(
      tf.tensor2d(embedded.query, [n, dim]) as Tensor2D,
      tf.tensor2d(embedded.positive, [n, dim]) as Tensor2D,
      batch,
      options,
    );
    timings.loss += (performance.now() - l0) / 1000;
    if (!grads) return { loss, grads: new Map() };
    const upstream = { query: grads[0].dataSync() as Float32Array, positive: grads[1].dataSync() as Float32Array };
    for (const g of grads) g.dispose();

    // 3. Backward per run, summed in run order.
    const sums = new Map<string, Float32Array>();
    let summing = 0;
    const masksBefore = this.maskSeconds;
    await pass('backward', async (j, px) => {
      const run = runs[j]!;
      const slices = run.parts.map((c) => upstream[c.side].subarray(c.start * dim, (c.start + c.count) * dim));
      const runUpstream = slices.length === 1 ? slices[0]! : concatFloats(slices);
      const chunkGrads = await this.chunkGradients(px, runUpstream, run.dropout, weights, kept.get(j));
      kept.delete(j);
      const t = performance.now();
      for (const [name, g] of chunkGrads) {
        const sum = sums.get(name);
        // The first run's outputs are this step's own arrays (ONNX Runtime allocates them per run): summed into.
        if (!sum) sums.set(name, g);
        else for (let i = 0; i < g.length; i++) sum[i]! += g[i]!;
      }
      summing += (performance.now() - t) / 1000;
    });
    // Drawing masks and summing ran inside the pass's timing: they belong to `masks` and `other`.
    timings.backward -= summing + (this.maskSeconds - masksBefore);
    timings.masks = this.maskSeconds;
    timings.other =
      (performance.now() - started) / 1000 -
      (timings.forward + timings.backward + timings.masks + timings.loss + timings.data);
    this.lastTimings = timings;
    this.lastSessionRuns = this.sessionRuns;
    return { loss, grads: sums };
  }

  /**
   * A step whose batch, both sides, is one whole-model run (the demo's): one session run of wholeStepGraph
   * gives the loss and every gradient. The gradient cache's three steps (embed, loss, backward with the
   * embedding pass again) give the same values up to float32 rounding; this embeds the batch once. The same
   * pixels, dropout masks (the run's chunks', in order) and loss (infoNceWeights, 1 / temperature).
   */
  private async wholeStep(
    run: SessionRun,
    n: number,
    batch: LanePairBatch,
    options: GradientOptions,
    weights: Feeds,
    /** When the step began (its weights read, its runs planned: counted as `other`). */
    started: number,
  ): Promise<BatchGradients<Float32Array>> {
    checkTemperature(options.loss.temperature);
    checkLabelCount(n, batch.labels, 'InfoNCE loss');
    const timings: StepTimings = { forward: 0, backward: 0, masks: 0, loss: 0, data: 0, other: 0 };
    const d0 = performance.now();
    const px = await loadRun(run);
    timings.data = (performance.now() - d0) / 1000;
    const { session, graph } = await this.stepSessionFor(px.height, px.width);
    const masks = this.maskFeeds(px, run.dropout);
    const feeds: Feeds = {
      ...this.pixelFeed(px),
      [LOSS_WEIGHTS_NAME]: { data: infoNceWeights(n, batch.labels), dims: [n, n] },
      [LOGIT_SCALE_NAME]: { data: Float32Array.of(1 / options.loss.temperature), dims: [] },
    };
    for (const [input, param] of graph.weights) feeds[input] = weights[param]!;
    for (const [input, mask] of graph.masks) feeds[input] = masks[mask]!;
    const r0 = performance.now();
    this.sessionRuns++;
    const result = await session.runMany(feedsFor(session, feeds), [LOSS_NAME, ...graph.gradients.map(([o]) => o)]);
    timings.backward = (performance.now() - r0) / 1000;
    const loss = result.get(LOSS_NAME)!.data[0]!;
    const grads = new Map<string, Float32Array>();
    // A loss that is not finite applies nothing (BatchGradients).
    if (Number.isFinite(loss))
      for (const [output, param] of graph.gradients) grads.set(param, result.get(output)!.data);
    timings.masks = this.maskSeconds;
    timings.other = (performance.now() - started) / 1000 - (timings.backward + timings.masks + timings.data);
    this.lastTimings = timings;
    this.lastSessionRuns = this.sessionRuns;
    return { loss, grads };
  }

  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    const steps = [...this.stepSessions.values()];
    this.sessions.clear();
    this.stepSessions.clear();
    await Promise.all(steps.map(async (p) => (await p.catch(() => null))?.session.release()));
    await Promise.all(
      all.map(async (p) => {
        const s = await p.catch(() => null);
        for (const session of s?.sessions ?? []) await session.release();
      }),
    );
  }
}
