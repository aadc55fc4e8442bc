/**
 * One loaded model serving any number of LoRA experts from ONE ONNX session: the graph is built
 * in "stacked" mode, where every expert's matrices are graph inputs with a leading expert
 * axis and `expert_weights` gives each row a weight per expert. So one batch can mix queries
 * routed to different experts, a row can mix several experts' LoRA deltas in the same pass
 * (soft routing, `encodeMixed`), and adding or removing an expert only rebuilds the stacked
 * tensors in JS, never the session (which takes about a second and a copy of the model's weights).
 *
 * The session adapts a fixed set of modules, chosen at create time: the union of the initial
 * experts' modules plus `targets` (default DEFAULT_LORA_TARGETS, every linear layer). Later experts
 * must stay within that set; an expert that skips some of them gets zeros there.
 */
import { RouterRetrieverError } from "../errors.js";
import { CompiledGraph, type Feed } from "../graph/session.js";
import { buildBertGraph, type Fusions, type Precision } from "../model/bert-graph.js";
import { encodeInBatches, positionIds, tokenizeAll, type EncodeOptions, type LoadedModel } from "../model/encoder.js";
import type { ModelSpec } from "../model/spec.js";
import type { Batch } from "../model/tokenizer.js";
import { stackExperts, type StackModule } from "./stack.js";
import { BASE, checkExpertFits, DEFAULT_LORA_TARGETS, resolveTargets, type LoraExpert } from "./types.js";

export interface ExpertEncoderOptions {
  /** ORT intra-op threads per session (default 1, as Encoder). */
  readonly threads?: number;
  /** Parallel ORT sessions, each on a worker thread (default 1, as Encoder). */
  readonly sessions?: number;
  /** Base weights' arithmetic (default "fp32"); LoRA deltas stay float either way. */
  readonly precision?: Precision;
  /** Fused kernels (default DEFAULT_FUSIONS; see BertGraphOptions.fusions). */
  readonly fusions?: Partial<Fusions>;
  /**
   * Extra PEFT-style targets the session should be able to adapt, so experts added later may
   * use them (default DEFAULT_LORA_TARGETS: every linear layer, what train-expert trains).
   */
  readonly targets?: readonly string[];
}

/** Experts and their stacked tensors, swapped as a whole so an encode in flight keeps a consistent view. */
interface State {
  readonly experts: readonly LoraExpert[];
  /** Expert id -> slot in the stacks ("base" -> 0). */
  readonly slot: ReadonlyMap<string, number>;
  readonly feeds: Readonly<Record<string, Feed>>;
  /** The stacks' rank axis: each slot's weight is repeated this many times in expert_weights. */
  readonly rank: number;
}

/** A row's mix: expert id -> weight. Weights are used as given (the router normalises them). */
export type ExpertMix = Readonly<Record<string, number>>;


export class ExpertEncoder {
  private state: State;

  private constructor(
    readonly model: LoadedModel,
    private readonly session: CompiledGraph,
    private readonly outputName: string,
    private readonly stackModules: readonly StackModule[],
    experts: readonly LoraExpert[],
  ) {
    this.state = this.makeState(experts);
  }

  static async create(model: LoadedModel, experts: readonly LoraExpert[] = [], opts: ExpertEncoderOptions = {}): Promise<ExpertEncoder> {
    // Before the graph is built from their modules; makeState's own check is then a lookup.
    for (const e of experts) checkExpertFits(e, model);
    const modules = new Set(resolveTargets(model, opts.targets ?? DEFAULT_LORA_TARGETS));
    for (const e of experts) for (const m of e.weights.keys()) modules.add(m);
    const { spec, weights } = model;
    // Targets are passed as full module paths, which matchesTarget accepts by equality.
    const bg = buildBertGraph(spec.config, weights, { pooling: spec.pooling, normalize: spec.normalize, lora: { kind: "stacked", targets: [...modules] }, precision: opts.precision, fusions: opts.fusions });
    const stackModules: StackModule[] = bg.lora.map((l) => ({ module: l.module, inFeatures: l.inFeatures, outFeatures: l.outFeatures, aInput: l.A.name, bInput: l.B.name }));
    const session = await CompiledGraph.create(bg.graph, { threads: opts.threads, sessions: opts.sessions });
    try {
      return new ExpertEncoder(model, session, bg.embedding.name, stackModules, experts);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  get spec(): ModelSpec {
    return this.model.spec;
  }

  get dims(): number {
    return this.model.spec.config.hiddenSize;
  }

  /** ORT sessions that can run at once (ExpertEncoderOptions.sessions). */
  get parallelism(): number {
    return this.session.parallelism;
  }

  /** The modules this session can adapt (fixed for its lifetime). */
  get modules(): readonly string[] {
    return this.stackModules.map((m) => m.module);
  }

  get experts(): readonly LoraExpert[] {
    return this.state.experts;
  }

  get expertIds(): readonly string[] {
    return this.state.experts.map((e) => e.id);
  }

  has(id: string): boolean {
    return this.state.slot.has(id);
  }

  /** Replaces the whole expert set; validates everything before changing anything. */
  setExperts(experts: readonly LoraExpert[]): void {
    this.state = this.makeState(experts);
  }

  addExpert(expert: LoraExpert): void {
    if (this.state.slot.has(expert.id)) throw new RouterRetrieverError("CONFLICT", `expert "${expert.id}" is already loaded; remove it first to replace it`);
    this.setExperts([...this.state.experts, expert]);
  }

  /** Returns false when no expert has that id. */
  removeExpert(id: string): boolean {
    if (id === BASE || !this.state.slot.has(id)) return false;
    this.setExperts(this.state.experts.filter((e) => e.id !== id));
    return true;
  }

  private makeState(experts: readonly LoraExpert[]): State {
    const known = new Set(this.stackModules.map((m) => m.module));
    const slot = new Map<string, number>([[BASE, 0]]);
    experts.forEach((e, i) => {
      if (slot.has(e.id)) throw new RouterRetrieverError("CONFLICT", `expert id "${e.id}" is ${e.id === BASE ? "reserved for the base model" : "used twice"}`);
      checkExpertFits(e, this.model);
      const extra = [...e.weights.keys()].filter((m) => !known.has(m));
      if (extra.length > 0) {
        throw new RouterRetrieverError(
          "UNSUPPORTED",
          `expert "${e.id}" adapts ${extra.length} module(s) this session was not built for (e.g. ${extra[0]}); ` +
            `create the ExpertEncoder with this expert, or with targets covering [${e.config.targetModules.join(", ")}]`,
        );
      }
      slot.set(e.id, i + 1);
    });
    const stacks = stackExperts(this.stackModules, experts);
    return { experts: [...experts], slot, feeds: stacks.feeds, rank: stacks.rank };
  }

  tokenize(texts: readonly string[]): number[][] {
    return tokenizeAll(this.model, texts);
  }

  /**
   * Embeds texts, row i with expert expertIds[i] ("base" = no LoRA), or all with one expert
   * when a single id is given. Rows are length-sorted into batches as Encoder.encode does;
   * experts mix freely within a batch. Output is row-major in input order.
   */
  async encode(texts: readonly string[], expertIds: string | readonly string[], opts: EncodeOptions = {}): Promise<Float32Array> {
    const state = this.state;
    if (typeof expertIds !== "string" && expertIds.length !== texts.length) {
      throw new RouterRetrieverError("BAD_INPUT", `${texts.length} texts but ${expertIds.length} expert ids`);
    }
    const mixes = texts.map((_, i): ExpertMix => ({ [typeof expertIds === "string" ? expertIds : expertIds[i]!]: 1 }));
    return this.encodeMixed(texts, mixes, opts);
  }

  /**
   * Soft routing in one pass: row i's LoRA delta is sum_e mixes[i][e] * delta_e (every expert
   * on the row's own weight; "base" contributes nothing, so its weight is the share left to the
   * base model). A one-hot mix is exactly `encode` with that expert.
   */
  async encodeMixed(texts: readonly string[], mixes: readonly ExpertMix[], opts: EncodeOptions = {}): Promise<Float32Array> {
    const state = this.state;
    if (mixes.length !== texts.length) throw new RouterRetrieverError("BAD_INPUT", `${texts.length} texts but ${mixes.length} expert mixes`);
    const slots = state.slot.size;
    const rows = mixes.map((mix) => {
      const w = new Float32Array(slots);
      for (const [id, x] of Object.entries(mix)) {
        const s = state.slot.get(id);
        if (s === undefined) throw new RouterRetrieverError("NOT_FOUND", `no expert "${id}" is loaded (loaded: ${[...state.slot.keys()].join(", ")})`);
        if (!Number.isFinite(x)) throw new RouterRetrieverError("BAD_INPUT", `expert "${id}" has weight ${x}; weights must be finite`);
        w[s] = x;
      }
      return w;
    });
    return encodeInBatches(this.model, texts, opts, (b) => this.runBatch(b, state, rows), this.session.parallelism);
  }

  private async runBatch(b: Batch, state: State, rows: readonly Float32Array[]): Promise<Float32Array> {
    const R = state.rank;
    const width = state.slot.size * R;
    const weights = new Float32Array(b.batchSize * width);
    b.rows.forEach((r, i) => rows[r]!.forEach((x, s) => weights.fill(x, i * width + s * R, i * width + (s + 1) * R)));
    const res = await this.session.run({
      ...state.feeds,
      input_ids: { data: b.inputIds, dims: [b.batchSize, b.seqLen] },
      attention_mask: { data: b.attentionMask, dims: [b.batchSize, b.seqLen] },
      position_ids: { data: positionIds(b.seqLen), dims: [b.seqLen] },
      expert_weights: { data: weights, dims: [b.batchSize, width] },
    });
    return res[this.outputName]!.data as Float32Array;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
