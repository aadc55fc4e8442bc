/**
 * The text encoder: tokenizer + BERT graph on ONNX Runtime + pooling/normalisation, turning
 * texts into row-major Float32Array embeddings in input order.
 */
import { CompiledGraph } from "../graph/session.js";
import { RouterRetrieverError } from "../errors.js";
import { buildBertGraph, normalizeWeightNames, type BertWeights, type Fusions, type Int8Activations, type LoraGraphMode, type Precision } from "./bert-graph.js";
import { readSafetensors } from "./safetensors.js";
import type { ModelSpec } from "./spec.js";
import { loadTokenizer, makeBatches, type Batch, type TextTokenizer } from "./tokenizer.js";

export interface EncoderOptions {
  /** ORT intra-op threads per session (default 1: measured faster than 2 for small batches here). */
  readonly threads?: number;
  /** Parallel ORT sessions, each on a worker thread (default 1; see SessionOptions.sessions). */
  readonly sessions?: number;
  /** Arithmetic of the linear layers (default "fp32"; see BertGraphOptions.precision). */
  readonly precision?: Precision;
  /** int8 activation ranges (default per row; see BertGraphOptions.int8Activations). */
  readonly int8Activations?: Int8Activations;
  /** Fused kernels (default DEFAULT_FUSIONS; see BertGraphOptions.fusions). */
  readonly fusions?: Partial<Fusions>;
}

export interface EncodeProgress {
  readonly done: number;
  readonly total: number;
  readonly tokens: number;
}

export interface EncodeOptions {
  /** Rows per ORT run (default 32). */
  readonly batchSize?: number;
  /** Cap on padded tokens per run, so long documents do not make huge batches (default 8192). */
  readonly maxTokens?: number;
  readonly onProgress?: (p: EncodeProgress) => void;
}

/** A model's weights, tokenizer and spec, loaded once and shared by every session built on it. */
export interface LoadedModel {
  readonly spec: ModelSpec;
  readonly weights: BertWeights;
  readonly tokenizer: TextTokenizer;
}

export function loadModel(spec: ModelSpec): LoadedModel {
  const weights = normalizeWeightNames(readSafetensors(spec.weightsPath).tensors);
  const tokenizer = loadTokenizer(spec.tokenizerPath, spec.maxLength, spec.config.padTokenId);
  return { spec, weights, tokenizer };
}

export function positionIds(seqLen: number): BigInt64Array {
  return BigInt64Array.from({ length: seqLen }, (_, i) => BigInt(i));
}

export function tokenizeAll(model: LoadedModel, texts: readonly string[]): number[][] {
  return texts.map((t, i) => {
    if (typeof t !== "string") throw new RouterRetrieverError("BAD_INPUT", `text ${i} is not a string`);
    return model.tokenizer.encode(t);
  });
}

/**
 * The batching loop every encoder shares: tokenize, length-sorted padded batches, one ORT run
 * per batch (`runBatch` returns its rows' vectors), rows written back in input order. Up to
 * `parallel` runs are in flight at once (an encoder with that many sessions).
 */
export async function encodeInBatches(model: LoadedModel, texts: readonly string[], opts: EncodeOptions, runBatch: (b: Batch) => Promise<Float32Array>, parallel = 1): Promise<Float32Array> {
  const d = model.spec.config.hiddenSize;
  const out = new Float32Array(texts.length * d);
  const batches = makeBatches(tokenizeAll(model, texts), model.tokenizer.padId, opts.batchSize ?? 32, opts.maxTokens ?? 8192);
  let next = 0;
  let done = 0;
  let tokens = 0;
  const lane = async (): Promise<void> => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const vecs = await runBatch(b);
      b.rows.forEach((row, i) => out.set(vecs.subarray(i * d, (i + 1) * d), row * d));
      done += b.batchSize;
      tokens += b.tokens;
      opts.onProgress?.({ done, total: texts.length, tokens });
      // Let timers and I/O run between batches: a session run on this thread settles as a
      // microtask, so a long encode would otherwise hold the event loop for its whole length (a
      // service's other requests, its timeouts, and a test runner's RPC all wait behind it).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, batches.length)) }, lane));
  return out;
}

export class Encoder {
  private constructor(
    readonly model: LoadedModel,
    private readonly session: CompiledGraph,
    private readonly outputName: string,
    readonly precision: Precision,
    /** Meaningful when precision is "int8". */
    readonly int8Activations: Int8Activations,
  ) {}

  get spec(): ModelSpec {
    return this.model.spec;
  }

  get dims(): number {
    return this.model.spec.config.hiddenSize;
  }

  /** ORT sessions that can run at once (EncoderOptions.sessions). */
  get parallelism(): number {
    return this.session.parallelism;
  }

  static async create(model: LoadedModel, opts: EncoderOptions = {}): Promise<Encoder> {
    const { spec, weights } = model;
    const lora: LoraGraphMode = { kind: "none" };
    const precision = opts.precision ?? "fp32";
    const bg = buildBertGraph(spec.config, weights, { pooling: spec.pooling, normalize: spec.normalize, lora, precision, int8Activations: opts.int8Activations, fusions: opts.fusions });
    const session = await CompiledGraph.create(bg.graph, { threads: opts.threads, sessions: opts.sessions });
    return new Encoder(model, session, bg.embedding.name, precision, opts.int8Activations ?? "per-row");
  }

  static async load(spec: ModelSpec, opts: EncoderOptions = {}): Promise<Encoder> {
    return Encoder.create(loadModel(spec), opts);
  }

  tokenize(texts: readonly string[]): number[][] {
    return tokenizeAll(this.model, texts);
  }

  async encode(texts: readonly string[], opts: EncodeOptions = {}): Promise<Float32Array> {
    return encodeInBatches(this.model, texts, opts, (b) => this.runBatch(b), this.session.parallelism);
  }

  private async runBatch(b: Batch): Promise<Float32Array> {
    const res = await this.session.run({
      input_ids: { data: b.inputIds, dims: [b.batchSize, b.seqLen] },
      attention_mask: { data: b.attentionMask, dims: [b.batchSize, b.seqLen] },
      position_ids: { data: positionIds(b.seqLen), dims: [b.seqLen] },
    });
    return res[this.outputName]!.data as Float32Array;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
