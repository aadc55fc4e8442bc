/**
 * The BERT encoder's forward pass, written once against the graph IR: embeddings, N
 * transformer layers, pooling, optional L2 normalisation. LoRA deltas attach to any linear
 * layer named in `lora.targets` (PEFT's suffix matching, e.g. "query", "value"):
 *
 * - "stacked" (inference): every expert's matrices are graph inputs stacked on a leading
 *   expert axis, and an `expert_weights` input gives each batch row a weight per expert, so
 *   one batch can mix queries routed to different experts, and one row can mix several
 *   experts' deltas in the same pass (row 0 of each stack is all zeros = the base). Hard
 *   routing is a one-hot row.
 * - "single" (training): one expert's A and B are inputs, with a dropout mask input on the
 *   LoRA branch, so the generated backward graph can differentiate the loss w.r.t. A and B.
 */
import { RouterRetrieverError } from "../errors.js";
import { Graph, type DType, type Value } from "../graph/ir.js";
import * as op from "../graph/ops.js";
import { quantizePerOutputChannel } from "../graph/quantize.js";
import type { Tensor } from "./safetensors.js";
import type { BertConfig, Pooling } from "./spec.js";

export type BertWeights = ReadonlyMap<string, Tensor>;

export type LoraGraphMode =
  | { readonly kind: "none" }
  | { readonly kind: "stacked"; readonly targets: readonly string[] }
  | { readonly kind: "single"; readonly targets: readonly string[]; readonly rank: number; readonly scale: number };

export interface BertGraphOptions {
  readonly pooling: Pooling;
  readonly normalize: boolean;
  readonly lora?: LoraGraphMode;
  /** float64 is for gradient checks on tiny models; real models run float32. */
  readonly dtype?: "float32" | "float64";
  /**
   * "int8": the linear layers' weights are quantised at build time (symmetric int8 per output
   * channel) and run on ONNX Runtime's integer GEMM, activations quantised per call
   * (int8Activations: per row by default);
   * embeddings, LayerNorm, attention softmax, GELU and LoRA deltas stay float. Inference only
   * (the graph has no gradient rules). Default "fp32".
   */
  readonly precision?: Precision;
  /**
   * How int8 graphs quantise activations: "per-row" (default) gives each token its own range
   * (quantizeRows + MatMulInteger), so a text's embedding does not depend on its batch;
   * "per-tensor" is DynamicQuantizeMatMul's one range for the whole batch (kept for bench/).
   */
  readonly int8Activations?: Int8Activations;
  /**
   * ONNX Runtime's fused CPU kernels (com.microsoft), per kind; unset kinds take DEFAULT_FUSIONS.
   * Inference only: float64 and training ("single" LoRA) graphs are always built unfused, since
   * the fused ops have no gradient rules.
   */
  readonly fusions?: Partial<Fusions>;
}

/** Which fused kernels an inference graph uses (bench/fusions.ts measures each alone). */
export interface Fusions {
  /** MultiHeadAttention on [b, s, h] (q/k/v biases inside) instead of head transposes, two MatMuls, mask Add and Softmax. */
  readonly attention: boolean;
  /** SkipLayerNormalization(x + residual + bias) instead of bias Add, residual Add and LayerNormalization. */
  readonly skipLayerNorm: boolean;
  /** BiasGelu (exact erf GELU of x + bias) instead of bias Add and the five-op erf GELU. */
  readonly biasGelu: boolean;
}

export const NO_FUSIONS: Fusions = { attention: false, skipLayerNorm: false, biasGelu: false };
export const DEFAULT_FUSIONS: Fusions = { attention: true, skipLayerNorm: true, biasGelu: true };

export type Precision = "fp32" | "int8";
export type Int8Activations = "per-row" | "per-tensor";
export const PRECISIONS: readonly Precision[] = ["fp32", "int8"];

export interface LoraInputs {
  /** Module path as PEFT names it, e.g. "encoder.layer.0.attention.self.query". */
  readonly module: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** single: [r, in]; stacked: [experts, r, in]. */
  readonly A: Value;
  /** single: [out, r]; stacked: [experts, out, r] (stacked B carries the alpha/r scale). */
  readonly B: Value;
  /** single only: [batch, seq, in] multiplier (0 or 1/(1-p)) on the LoRA branch's input. */
  readonly dropoutMask?: Value;
}

export interface BertGraph {
  readonly graph: Graph;
  readonly inputIds: Value;
  readonly attentionMask: Value;
  /** [seq] int64: 0..seq-1 (fed by the caller; cheaper than building a Range in-graph). */
  readonly positionIds: Value;
  /**
   * stacked only: [batch, experts * R], each row's weight of slot e repeated R times (R = the
   * stacks' rank axis), so the graph needs no Expand: the caller knows R when it stacks.
   */
  readonly expertWeights?: Value;
  readonly lora: readonly LoraInputs[];
  /** The last layer's token vectors, [batch, seq, hidden] (what HuggingFace calls last_hidden_state). */
  readonly hidden: Value;
  /** Pooled embedding before normalisation, [batch, hidden]. */
  readonly pooled: Value;
  /** The model's output embedding (normalised when the model normalises), [batch, hidden]. */
  readonly embedding: Value;
}

/** The linear layers of one BERT layer, by PEFT module suffix. */
export const LINEAR_MODULES = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"] as const;

/** PEFT's rule: a target matches a module whose dotted path equals it or ends with ".target". */
export function matchesTarget(module: string, targets: readonly string[]): boolean {
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/** Canonical weight names: drop a "bert." prefix, map old gamma/beta to weight/bias. */
export function normalizeWeightNames(raw: BertWeights): BertWeights {
  const out = new Map<string, Tensor>();
  for (const [name, t] of raw) {
    let n = name.startsWith("bert.") ? name.slice(5) : name;
    n = n.replace(/LayerNorm\.gamma$/, "LayerNorm.weight").replace(/LayerNorm\.beta$/, "LayerNorm.bias");
    out.set(n, t);
  }
  return out;
}

export function buildBertGraph(cfg: BertConfig, weights: BertWeights, opts: BertGraphOptions): BertGraph {
  const g = new Graph();
  const dtype: DType = opts.dtype ?? "float32";
  const lora = opts.lora ?? { kind: "none" };
  const int8 = (opts.precision ?? "fp32") === "int8";
  const perRow = (opts.int8Activations ?? "per-row") === "per-row";
  // q, k and v read the same x: quantise it once.
  const rowCodes = new Map<number, ReturnType<typeof op.quantizeRows>>();
  const inference = dtype === "float32" && lora.kind !== "single";
  if (int8 && !inference) {
    throw new RouterRetrieverError("UNSUPPORTED", "int8 precision is for float32 inference graphs (training and gradient checks build fp32)");
  }
  const fx: Fusions = inference ? { ...DEFAULT_FUSIONS, ...opts.fusions } : NO_FUSIONS;
  const h = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = h / nh;

  const weight = (name: string, shape: readonly number[], transpose = false): Value => {
    const t = weights.get(name);
    if (!t) throw new RouterRetrieverError("NOT_FOUND", `model weights have no tensor "${name}"`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new RouterRetrieverError("SHAPE_MISMATCH", `weight ${name} has shape [${t.shape}], config expects [${shape}]`);
    }
    let data: Float32Array | Float64Array = t.data;
    let outShape = shape;
    if (transpose) {
      // torch Linear stores [out, in]; MatMul wants [in, out]. Transposed once at load.
      const [o, i] = shape as [number, number];
      const tr = new Float32Array(o * i);
      for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) tr[c * o + r] = t.data[r * i + c]!;
      data = tr;
      outShape = [i, o];
    }
    if (dtype === "float64") data = Float64Array.from(data);
    return g.initializer(name, { shape: outShape, data });
  };

  const inputIds = g.input("input_ids", "int64", ["batch", "seq"]);
  const attentionMask = g.input("attention_mask", "int64", ["batch", "seq"]);
  const positionIds = g.input("position_ids", "int64", ["seq"]);
  const expertWeights = lora.kind === "stacked" ? g.input("expert_weights", dtype, ["batch", "expert_rank"]) : undefined;
  const loraInputs: LoraInputs[] = [];

  /**
   * x W^T + b in the chosen precision: float MatMul + Add, or one int8 DynamicQuantizeMatMul.
   * With `deferBias` the bias is left out and named in `biasOf`, for a fused kernel to add.
   */
  const dense = (x: Value, module: string, inF: number, outF: number, deferBias: boolean): Value => {
    if (!int8 || (!perRow && keptFloatInInt8(module))) {
      const y = op.matmul(g, x, weight(`${module}.weight`, [outF, inF], true));
      return deferBias ? y : op.add(g, y, weight(`${module}.bias`, [outF]));
    }
    const t = weights.get(`${module}.weight`);
    if (!t) throw new RouterRetrieverError("NOT_FOUND", `model weights have no tensor "${module}.weight"`);
    if (t.shape.length !== 2 || t.shape[0] !== outF || t.shape[1] !== inF) {
      throw new RouterRetrieverError("SHAPE_MISMATCH", `weight ${module}.weight has shape [${t.shape}], config expects [${outF},${inF}]`);
    }
    const q = quantizePerOutputChannel(t.data, outF, inF);
    const wq = g.initializer(`${module}.weight_int8`, { shape: [inF, outF], data: q.data });
    const scale = g.initializer(`${module}.weight_scale`, { shape: [outF], data: q.scale });
    const bias = deferBias ? undefined : weight(`${module}.bias`, [outF]);
    if (!perRow) return op.dynamicQuantizeMatMul(g, x, wq, scale, bias);
    let xq = rowCodes.get(x.id);
    if (!xq) rowCodes.set(x.id, (xq = op.quantizeRows(g, x)));
    const y = op.rowQuantizedMatMul(g, x, xq, wq, scale);
    return bias ? op.add(g, y, bias) : y;
  };

  const linear = (x: Value, module: string, inF: number, outF: number, deferBias = false): { y: Value; biasOf?: string } => {
    let y = dense(x, module, inF, outF, deferBias);
    if (lora.kind !== "none" && matchesTarget(module, lora.targets)) {
      y = op.add(g, y, loraDelta(g, x, module, inF, outF, lora, dtype, expertWeights, loraInputs));
    }
    return deferBias ? { y, biasOf: module } : { y };
  };

  /** LayerNorm(r + residual), r's pending bias included: one SkipLayerNormalization, or Add(s) + LayerNormalization. */
  const residualNorm = (r: { y: Value; biasOf?: string }, residual: Value, ln: string, width: number): Value => {
    const gamma = weight(`${ln}.weight`, [h]);
    const beta = weight(`${ln}.bias`, [h]);
    const bias = r.biasOf === undefined ? undefined : weight(`${r.biasOf}.bias`, [width]);
    if (fx.skipLayerNorm) return op.skipLayerNorm(g, r.y, residual, gamma, beta, cfg.layerNormEps, bias);
    return op.layerNorm(g, op.add(g, bias ? op.add(g, r.y, bias) : r.y, residual), gamma, beta, cfg.layerNormEps).y;
  };

  /** The three projections' biases as one [3h] vector, MultiHeadAttention's layout (q, k, v). */
  const qkvBias = (p: string): Value => {
    const parts = ["query", "key", "value"].map((m) => {
      const t = weights.get(`${p}.attention.self.${m}.bias`);
      if (!t || t.data.length !== h) throw new RouterRetrieverError("NOT_FOUND", `model weights have no [${h}] tensor "${p}.attention.self.${m}.bias"`);
      return t.data;
    });
    const data = new Float32Array(3 * h);
    parts.forEach((d, i) => data.set(d, i * h));
    return g.initializer(`${p}.attention.self.qkv_bias`, { shape: [3 * h], data });
  };

  // Embeddings: word + position + token type 0 (single-segment inputs), then LayerNorm.
  const wordEmb = weight("embeddings.word_embeddings.weight", [cfg.vocabSize, h]);
  const posEmb = weight("embeddings.position_embeddings.weight", [cfg.maxPositions, h]);
  const typeEmb = weight("embeddings.token_type_embeddings.weight", [cfg.typeVocabSize, h]);
  let x = op.add(g, op.gather(g, wordEmb, inputIds), op.gather(g, posEmb, positionIds));
  x = op.add(g, x, op.gather(g, typeEmb, g.constant(0, "int64")));
  x = op.layerNorm(g, x, weight("embeddings.LayerNorm.weight", [h]), weight("embeddings.LayerNorm.bias", [h]), cfg.layerNormEps).y;

  const maskF = op.cast(g, attentionMask, dtype);
  // Fused attention takes the 0/1 mask as int32; the unfused path adds [batch, 1, 1, seq]: 0
  // where attended, a large negative elsewhere.
  const keyPaddingMask = fx.attention ? op.cast(g, attentionMask, "int32") : undefined;
  const maskBias = fx.attention ? undefined : op.unsqueeze(g, op.scale(g, op.sub(g, op.scalarLike(g, maskF, 1), maskF), -1e9), [1, 2]);
  const invSqrtD = 1 / Math.sqrt(hd);

  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `encoder.layer.${l}`;
    let ctx: Value; // [b, s, h]
    if (fx.attention) {
      const [q, k, v] = ["query", "key", "value"].map((m) => linear(x, `${p}.attention.self.${m}`, h, h, true).y);
      ctx = op.multiHeadAttention(g, q!, k!, v!, nh, { bias: qkvBias(p), keyPaddingMask });
    } else {
      const heads = (v: Value, perm: number[]): Value => op.transpose(g, op.reshape(g, v, [0, 0, nh, hd], ["batch", "seq", nh, hd]), perm);
      const q = heads(linear(x, `${p}.attention.self.query`, h, h).y, [0, 2, 1, 3]); // [b, nh, s, hd]
      const k = heads(linear(x, `${p}.attention.self.key`, h, h).y, [0, 2, 3, 1]); // [b, nh, hd, s]
      const v = heads(linear(x, `${p}.attention.self.value`, h, h).y, [0, 2, 1, 3]);
      const scores = op.add(g, op.scale(g, op.matmul(g, q, k), invSqrtD), maskBias!);
      const probs = op.matmul(g, op.softmax(g, scores, -1), v); // [b, nh, s, hd]
      ctx = op.reshape(g, op.transpose(g, probs, [0, 2, 1, 3]), [0, 0, h], ["batch", "seq", h]);
    }
    const attnOut = linear(ctx, `${p}.attention.output.dense`, h, h, fx.skipLayerNorm);
    x = residualNorm(attnOut, x, `${p}.attention.output.LayerNorm`, h);
    const inter = linear(x, `${p}.intermediate.dense`, h, cfg.intermediateSize, fx.biasGelu);
    const act = fx.biasGelu ? op.biasGelu(g, inter.y, weight(`${p}.intermediate.dense.bias`, [cfg.intermediateSize])) : gelu(g, inter.y);
    const ffn = linear(act, `${p}.output.dense`, cfg.intermediateSize, h, fx.skipLayerNorm);
    x = residualNorm(ffn, x, `${p}.output.LayerNorm`, h);
  }

  const pooled = opts.pooling === "cls" ? op.gather(g, x, g.constant(0, "int64"), 1) : meanPool(g, x, maskF);
  const embedding = opts.normalize ? l2Normalize(g, pooled) : pooled;
  g.output(embedding);
  return { graph: g, inputIds, attentionMask, positionIds, expertWeights, lora: loraInputs, hidden: x, pooled, embedding };
}

function loraDelta(
  g: Graph,
  x: Value,
  module: string,
  inF: number,
  outF: number,
  lora: Exclude<LoraGraphMode, { kind: "none" }>,
  dtype: DType,
  expertWeights: Value | undefined,
  sink: LoraInputs[],
): Value {
  if (lora.kind === "single") {
    const A = g.input(`${module}.lora_A`, dtype, [lora.rank, inF]);
    const B = g.input(`${module}.lora_B`, dtype, [outF, lora.rank]);
    const dropoutMask = g.input(`${module}.lora_dropout`, dtype, ["batch", "seq", inF]);
    sink.push({ module, inFeatures: inF, outFeatures: outF, A, B, dropoutMask });
    const xa = op.matmul(g, op.mul(g, x, dropoutMask), op.transpose(g, A, [1, 0]));
    return op.scale(g, op.matmul(g, xa, op.transpose(g, B, [1, 0])), lora.scale);
  }
  const A = g.input(`${module}.lora_A`, dtype, ["experts", "rank", inF]);
  const B = g.input(`${module}.lora_B`, dtype, ["experts", outF, "rank"]);
  sink.push({ module, inFeatures: inF, outFeatures: outF, A, B });
  // Every expert's down-projection at once ([b,s,in] x [in, E*R]), each row's weights on its
  // E*R columns, then every expert's up-projection summed by one matmul ([b,s,E*R] x [E*R,out]):
  // sum_e w_e * B_e A_e x, a rank-(E*R) product instead of a pass per expert.
  const allA = op.reshape(g, A, [-1, inF], ["expert_rank", inF]); // [E*R, in]
  const allB = op.reshape(g, op.transposeLast2(g, B), [-1, outF], ["expert_rank", outF]); // [E*R, out]
  const xa = op.mul(g, op.matmul(g, x, op.transpose(g, allA, [1, 0])), op.unsqueeze(g, expertWeights!, [1])); // [b, s, E*R]
  return op.matmul(g, xa, allB);
}

/**
 * With per-tensor activations (DynamicQuantizeMatMul) the FFN's output projection stays float.
 * Its input is the GELU output (1536 wide, a few large outliers), and one range for the whole
 * batch costs most of the int8 error there: on the 21 golden cases (bench/int8-golden.ts) all
 * layers int8 gave min cosine 0.978-0.986, keeping this projection float 0.992. Per-row ranges
 * confine an outlier to its own token, so per-row graphs quantise it too (min 0.992, mean 0.997,
 * and 1.62x transformers.js against 1.40x with it float: bench/results/encode-int8-rows.json).
 */
export function keptFloatInInt8(module: string): boolean {
  return /(^|\.)layer\.\d+\.output\.dense$/.test(module);
}

/** Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)); ORT fuses this pattern into one kernel. */
function gelu(g: Graph, x: Value): Value {
  const e = op.erf(g, op.scale(g, x, Math.SQRT1_2));
  return op.mul(g, op.scale(g, x, 0.5), op.add(g, op.scalarLike(g, x, 1), e));
}

/** sentence-transformers mean pooling: sum of attended token vectors / max(count, 1e-9). */
function meanPool(g: Graph, x: Value, maskF: Value): Value {
  const m = op.unsqueeze(g, maskF, [-1]); // [b, s, 1]
  const summed = op.reduceSum(g, op.mul(g, x, m), [1]);
  const count = op.max(g, op.reduceSum(g, m, [1]), op.scalarLike(g, x, 1e-9));
  return op.div(g, summed, count);
}

/** torch.nn.functional.normalize: x / max(||x||, 1e-12). */
function l2Normalize(g: Graph, x: Value): Value {
  const norm = op.sqrt(g, op.reduceSum(g, op.mul(g, x, x), [-1], true));
  return op.div(g, x, op.max(g, norm, op.scalarLike(g, x, 1e-12)));
}
