/**
 * LoRA experts on disk in Hugging Face PEFT's layout, so an expert trained here loads in
 * Python with `PeftModel.from_pretrained(AutoModel.from_pretrained(base), dir)` and a PEFT
 * adapter trained in Python loads here:
 *
 *   dir/adapter_config.json        PEFT's LoraConfig (peft/tuners/lora/config.py, saved as
 *                                  PeftConfigMixin.save_pretrained does: sorted keys, indent 2)
 *   dir/adapter_model.safetensors  F32 tensors named as get_peft_model_state_dict returns them
 *                                  for a BertModel: "base_model.model.<module>.lora_A.weight"
 *                                  [r, in] and "...lora_B.weight" [out, r], the adapter name
 *                                  ("default") removed; header metadata {"format": "pt"}
 *   dir/routerretriever.json       our own metadata (id, domain, training, metrics, ...), in a
 *                                  separate file because PEFT's config must stay loadable by
 *                                  PEFT versions that reject unknown keys.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { RE2JS } from "re2js";
import { randomBytes } from "node:crypto";
import { RouterRetrieverError } from "../errors.js";
import { LINEAR_MODULES, matchesTarget } from "../model/bert-graph.js";
import type { LoadedModel } from "../model/encoder.js";
import { readRegularFile, readSafetensors, writeSafetensors, type Tensor } from "../model/safetensors.js";
import { fsyncDir, writeJsonAtomic } from "../util/atomic.js";
import type { JsonValue } from "../util/json.js";
import { BASE, checkConfig, checkExpertSelf, markExpertFits, linearModules, resolveTargets, type ExpertMeta, type LoraConfig, type LoraExpert, type LoraMatrices } from "./types.js";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
export const EXPERT_META_FILE = "routerretriever.json";
const META_FORMAT = "routerretriever-expert";

/** PeftModel wraps LoraModel (base_model) which wraps the BertModel (model). */
export const PEFT_KEY_PREFIX = "base_model.model.";

/** PEFT's default targets for model_type "bert" (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const PEFT_BERT_DEFAULT_TARGETS = ["query", "value"] as const;

export function peftTensorName(module: string, which: "A" | "B"): string {
  return `${PEFT_KEY_PREFIX}${module}.lora_${which}.weight`;
}

// ---------------------------------------------------------------------------------------
// Saving

/**
 * adapter_config.json. Only fields that PEFT's LoraConfig has had since 0.9 are written, so
 * old PEFT versions (which raise on unknown keys) load it too; every newer field has a
 * default that means "plain LoRA".
 */
export function peftAdapterConfig(expert: LoraExpert): Record<string, JsonValue> {
  const c = expert.config;
  const cfg: Record<string, JsonValue> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: expert.baseModelId,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    modules_to_save: null,
    peft_type: "LORA",
    r: c.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...c.targetModules],
    task_type: "FEATURE_EXTRACTION",
    use_dora: false,
    use_rslora: c.useRslora ?? false,
  };
  return cfg;
}

export function peftTensors(expert: LoraExpert): Map<string, Tensor> {
  const r = expert.config.rank;
  const out = new Map<string, Tensor>();
  for (const [module, { A, B }] of expert.weights) {
    out.set(peftTensorName(module, "A"), { shape: [r, A.length / r], data: A });
    out.set(peftTensorName(module, "B"), { shape: [B.length / r, r], data: B });
  }
  return out;
}

function metaJson(expert: LoraExpert, createdAt: string): Record<string, JsonValue> {
  const m = expert.meta;
  const out: Record<string, JsonValue> = { format: META_FORMAT, formatVersion: 1, id: expert.id, baseModelId: expert.baseModelId, createdAt };
  if (m.domain !== undefined) out.domain = m.domain;
  if (m.training !== undefined) out.training = stripUndefined(m.training);
  if (m.metrics !== undefined) out.metrics = { ...m.metrics };
  if (m.extra !== undefined) out.extra = { ...m.extra };
  return out;
}

function stripUndefined(o: { readonly [key: string]: JsonValue | undefined }): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function writeExpertFiles(dir: string, expert: LoraExpert, createdAt: string): void {
  // Weights first, config last among PEFT's files: a reader polling for adapter_config.json
  // in a half-updated folder then sees new weights with at worst the old (same-shape) config.
  writeSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), peftTensors(expert), { format: "pt" });
  writeJsonAtomic(join(dir, ADAPTER_CONFIG_FILE), peftAdapterConfig(expert));
  writeJsonAtomic(join(dir, EXPERT_META_FILE), metaJson(expert, createdAt));
}

/**
 * Writes an expert folder. A new folder is assembled under a temporary name beside the target
 * and renamed into place, so other processes never see a partial expert; an existing expert
 * folder is updated file by file, each file atomically. A non-empty folder that is not an
 * adapter folder is refused rather than written into.
 */
export function saveExpert(dir: string, expert: LoraExpert): void {
  checkExpertSelf(expert);
  const target = resolve(dir);
  const createdAt = expert.meta.createdAt ?? new Date().toISOString();
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new RouterRetrieverError("CONFLICT", `${target} exists and is not a directory`);
    if (readdirSync(target).length > 0 && !existsSync(join(target, ADAPTER_CONFIG_FILE))) {
      throw new RouterRetrieverError("CONFLICT", `${target} is a non-empty folder without ${ADAPTER_CONFIG_FILE}; refusing to write an expert into it`);
    }
    writeExpertFiles(target, expert, createdAt);
    return;
  }
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  mkdirSync(tmp);
  try {
    writeExpertFiles(tmp, expert, createdAt);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") {
      throw new RouterRetrieverError("CONFLICT", `${target} was created by someone else while this expert was being written`, { cause: err });
    }
    throw err;
  }
  fsyncDir(parent);
}

// ---------------------------------------------------------------------------------------
// Loading

export interface LoadExpertOptions {
  /** Load even when the adapter names a different base model (shapes are still checked). */
  readonly allowModelMismatch?: boolean;
  /** Overrides the id from routerretriever.json (default: that id, else the folder name). */
  readonly id?: string;
  readonly onWarning?: (message: string) => void;
}

/** Adapter files are downloaded, i.e. untrusted: bounded sizes (a rank-64 all-linear BERT-large adapter is ~150 MB). */
export const MAX_ADAPTER_WEIGHTS_BYTES = 512 * 1024 * 1024;
const MAX_JSON_BYTES = 1024 * 1024;
/** PEFT's target_modules regexes are a few dozen characters; anything longer is refused. */
const MAX_TARGET_REGEX_CHARS = 1000;

function readJsonObject(path: string): Record<string, unknown> {
  let v: unknown;
  const text = readRegularFile(path, MAX_JSON_BYTES, "JSON file").toString("utf8");
  try {
    v = JSON.parse(text);
  } catch (err) {
    // Not the parser's message: it quotes the file, and these messages reach health warnings.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: not valid JSON${at !== undefined ? ` (at byte ${at})` : ""}`, { cause: err });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new RouterRetrieverError("PARSE_ERROR", `${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

interface ParsedPeftConfig {
  readonly config: LoraConfig;
  readonly baseModelId: string | null;
}

/** Reads PEFT's LoraConfig; refuses the variants whose arithmetic this engine does not do. */
function parsePeftConfig(c: Record<string, unknown>, path: string, base: LoadedModel): ParsedPeftConfig {
  const bad = (code: "PARSE_ERROR" | "UNSUPPORTED", what: string): never => {
    throw new RouterRetrieverError(code, `${path}: ${what}`);
  };
  if (c.peft_type !== "LORA") bad("UNSUPPORTED", `peft_type ${JSON.stringify(c.peft_type)} (only "LORA" adapters are supported)`);
  const unsupported: Array<[string, string]> = [
    ["use_dora", "DoRA"],
    ["fan_in_fan_out", "fan_in_fan_out (Conv1D-layout weights)"],
    ["lora_bias", "a bias on lora_B"],
    ["modules_to_save", "modules_to_save (fully trained extra modules)"],
    ["rank_pattern", "per-module ranks (rank_pattern)"],
    ["alpha_pattern", "per-module alphas (alpha_pattern)"],
    ["layers_to_transform", "layers_to_transform"],
    ["layer_replication", "layer_replication"],
    ["trainable_token_indices", "trainable_token_indices"],
  ];
  for (const [key, what] of unsupported) if (!isEmpty(c[key])) bad("UNSUPPORTED", `${what} is not supported (field "${key}")`);
  if (c.bias !== undefined && c.bias !== "none") bad("UNSUPPORTED", `bias ${JSON.stringify(c.bias)} (only "none": trained biases would change the base model)`);
  // These initialisations rewrite the BASE weights at init; their adapters only work on that residual model.
  const init = c.init_lora_weights;
  if (typeof init === "string" && /^(pissa|olora|corda|loftq)/.test(init)) {
    bad("UNSUPPORTED", `init_lora_weights "${init}" modifies the base weights; convert the adapter to plain LoRA in PEFT first`);
  }
  const r = c.r ?? 8;
  if (typeof r !== "number" || !Number.isInteger(r) || r <= 0) bad("PARSE_ERROR", `"r" must be a positive integer, got ${JSON.stringify(c.r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) bad("PARSE_ERROR", `"lora_alpha" must be a number, got ${JSON.stringify(c.lora_alpha)}`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) bad("PARSE_ERROR", `"lora_dropout" must be in [0, 1), got ${JSON.stringify(c.lora_dropout)}`);
  const useRslora = c.use_rslora ?? false;
  if (typeof useRslora !== "boolean") bad("PARSE_ERROR", `"use_rslora" must be a boolean`);
  const targetModules = parseTargets(c.target_modules, path, base);
  const baseId = c.base_model_name_or_path ?? null;
  if (baseId !== null && typeof baseId !== "string") bad("PARSE_ERROR", `"base_model_name_or_path" must be a string or null`);
  const config: LoraConfig = { rank: r as number, alpha: alpha as number, dropout: dropout as number, targetModules, ...(useRslora ? { useRslora: true } : {}) };
  checkConfig(config, path);
  return { config, baseModelId: baseId as string | null };
}

/**
 * PEFT's target_modules: a list (exact or ".suffix" match), null (the architecture default),
 * "all-linear", or another string, which PEFT treats as a regex that must fullmatch the module
 * path; a regex is resolved here to the explicit module paths it selects.
 */
function parseTargets(t: unknown, path: string, base: LoadedModel): string[] {
  if (t === undefined || t === null) return [...PEFT_BERT_DEFAULT_TARGETS];
  if (Array.isArray(t) && t.every((x) => typeof x === "string") && t.length > 0) return t as string[];
  if (t === "all-linear") return [...LINEAR_MODULES];
  if (typeof t === "string") {
    // RE2 semantics (linear time in pattern x input): a hostile pattern cannot stall the event
    // loop the way a backtracking RegExp can. Python's re features RE2 lacks (backreferences,
    // lookaround) are refused, which no published LoRA adapter's target_modules uses.
    if (t.length > MAX_TARGET_REGEX_CHARS) throw new RouterRetrieverError("UNSUPPORTED", `${path}: target_modules regex is ${t.length} characters (limit ${MAX_TARGET_REGEX_CHARS})`);
    let re: RE2JS;
    try {
      re = RE2JS.compile(t);
    } catch (err) {
      throw new RouterRetrieverError("UNSUPPORTED", `${path}: target_modules regex ${JSON.stringify(t.slice(0, 80))} is not valid here: ${(err as Error).message.slice(0, 200)}`);
    }
    const hits = [...linearModules(base).keys()].filter((m) => re.matches(m));
    if (hits.length === 0) throw new RouterRetrieverError("NOT_FOUND", `${path}: target_modules regex ${JSON.stringify(t)} matches no linear module of ${base.spec.id}`);
    return hits;
  }
  throw new RouterRetrieverError("PARSE_ERROR", `${path}: target_modules must be a non-empty list of strings, a string or null`);
}

/**
 * "The same model" for the base-model check: equal ids, or equal last path segments, so a
 * local checkout (/models/all-MiniLM-L6-v2) matches its hub id (sentence-transformers/all-MiniLM-L6-v2).
 */
export function sameModelId(a: string, b: string): boolean {
  const norm = (s: string): string => s.trim().replace(/[\\/]+$/, "");
  const last = (s: string): string => norm(s).split(/[\\/]/).pop() ?? "";
  return norm(a) === norm(b) || (last(a) !== "" && last(a) === last(b));
}

interface OurMeta {
  readonly id?: string;
  readonly baseModelId?: string;
  readonly meta: ExpertMeta;
}

function readOurMeta(path: string): OurMeta {
  if (!existsSync(path)) return { meta: {} };
  checkInside(dirname(path), path);
  const m = readJsonObject(path);
  const str = (k: string): string | undefined => {
    const v = m[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw new RouterRetrieverError("PARSE_ERROR", `${path}: "${k}" must be a string`);
    return v;
  };
  const obj = (k: string): Record<string, JsonValue> | undefined => {
    const v = m[k];
    if (v === undefined) return undefined;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new RouterRetrieverError("PARSE_ERROR", `${path}: "${k}" must be an object`);
    return v as Record<string, JsonValue>;
  };
  const metrics = obj("metrics");
  if (metrics) for (const [k, v] of Object.entries(metrics)) if (typeof v !== "number") throw new RouterRetrieverError("PARSE_ERROR", `${path}: metric "${k}" must be a number`);
  const training = obj("training");
  if (training?.description !== undefined && typeof training.description !== "string") {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: "training.description" must be a string`);
  }
  const meta: ExpertMeta = {
    ...(str("domain") !== undefined ? { domain: str("domain") } : {}),
    ...(training ? { training: training as ExpertMeta["training"] } : {}),
    ...(metrics ? { metrics: metrics as Record<string, number> } : {}),
    ...(str("createdAt") !== undefined ? { createdAt: str("createdAt") } : {}),
    ...(obj("extra") ? { extra: obj("extra") } : {}),
  };
  return { id: str("id"), baseModelId: str("baseModelId"), meta };
}

const TENSOR_KEY = /^(.*)\.lora_(A|B)\.weight$/;

/** Module path inside a BertModel from a PEFT key (also accepts keys saved from a BertFor* model). */
function moduleOfKey(key: string): { module: string; which: "A" | "B" } | undefined {
  const m = TENSOR_KEY.exec(key);
  if (!m) return undefined;
  let module = m[1]!;
  if (module.startsWith(PEFT_KEY_PREFIX)) module = module.slice(PEFT_KEY_PREFIX.length);
  if (module.startsWith("bert.")) module = module.slice(5);
  return { module, which: m[2] as "A" | "B" };
}

/**
 * A file of an expert folder may be a symlink only to somewhere inside that folder: adapters are
 * downloaded, and a link to /etc/... would otherwise be read (and quoted in errors) as an adapter.
 */
function checkInside(root: string, path: string): void {
  if (!lstatSync(path).isSymbolicLink()) return;
  const realRoot = realpathSync(root);
  let real: string;
  try {
    real = realpathSync(path);
  } catch (err) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: dangling symlink`, { cause: err });
  }
  const rel = relative(realRoot, real);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: symlink to a file outside the expert folder; refused`);
  }
}

/** The codes an unusable (malformed, mismatched, unsupported) expert folder is reported with: HTTP 422. */
const UNUSABLE_CODES: ReadonlySet<string> = new Set(["PARSE_ERROR", "MODEL_MISMATCH", "SHAPE_MISMATCH", "UNSUPPORTED"]);

/**
 * loadExpert's error as "this folder is not a usable expert": a missing tensor (NOT_FOUND) or
 * an oversized file (LIMIT_EXCEEDED) inside a folder that exists is a property of the folder's
 * content, not of the request, so callers that name an existing folder report all of them alike.
 */
export function asUnusableExpert(err: unknown): unknown {
  if (!(err instanceof RouterRetrieverError) || UNUSABLE_CODES.has(err.code) || err.code === "INTERNAL") return err;
  return new RouterRetrieverError("PARSE_ERROR", err.message, { cause: err });
}

const fmt = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/**
 * Loads and validates an expert folder against the base it will run on: every tensor must fit
 * that base's module sizes with the config's rank, every targeted module must have both
 * matrices, and the declared base model must match (MODEL_MISMATCH unless overridden).
 */
export function loadExpert(dir: string, base: LoadedModel, opts: LoadExpertOptions = {}): LoraExpert {
  const root = resolve(dir);
  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
  const configPath = join(root, ADAPTER_CONFIG_FILE);
  const weightsPath = join(root, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(configPath)) throw new RouterRetrieverError("NOT_FOUND", `${root}: no ${ADAPTER_CONFIG_FILE} (expected a PEFT adapter folder)`);
  if (!existsSync(weightsPath)) {
    const legacy = existsSync(join(root, "adapter_model.bin"));
    throw new RouterRetrieverError(
      legacy ? "UNSUPPORTED" : "NOT_FOUND",
      legacy ? `${root}: only adapter_model.bin (pickle) is present; re-save the adapter with safe_serialization=True` : `${root}: no ${ADAPTER_WEIGHTS_FILE}`,
    );
  }
  checkInside(root, configPath);
  checkInside(root, weightsPath);
  const { config, baseModelId: peftBase } = parsePeftConfig(readJsonObject(configPath), configPath, base);
  const ours = readOurMeta(join(root, EXPERT_META_FILE));

  const declared = peftBase ?? ours.baseModelId ?? null;
  const baseId = base.spec.id;
  if (declared === null) {
    warn(`${configPath}: no base_model_name_or_path; cannot check that the adapter was trained on ${baseId} (shapes fit)`);
  } else if (!sameModelId(declared, baseId)) {
    const msg = `${configPath}: adapter was trained on base model "${declared}", but the loaded base model is "${baseId}"`;
    if (!opts.allowModelMismatch) throw new RouterRetrieverError("MODEL_MISMATCH", `${msg} (pass allowModelMismatch to load it anyway)`);
    warn(`${msg}; loading anyway because allowModelMismatch is set`);
  }

  const modules = linearModules(base);
  const r = config.rank;
  const found = new Map<string, { A?: Float32Array; B?: Float32Array }>();
  for (const [key, t] of readSafetensors(weightsPath, { maxBytes: MAX_ADAPTER_WEIGHTS_BYTES, requireFinite: true }).tensors) {
    const parsed = moduleOfKey(key);
    if (!parsed) {
      throw new RouterRetrieverError("UNSUPPORTED", `${weightsPath}: tensor ${key} is not a LoRA A/B weight (bias, DoRA, embedding or modules_to_save tensors are not supported)`);
    }
    const { module, which } = parsed;
    if (module.startsWith("pooler.")) {
      // BertModel's pooler is never used by sentence-transformers pooling, so this engine has no pooler to adapt.
      warn(`${weightsPath}: ignoring tensor ${key}: the pooler does not affect mean/CLS-pooled embeddings`);
      continue;
    }
    const shape = modules.get(module);
    if (!shape) throw new RouterRetrieverError("NOT_FOUND", `${weightsPath}: tensor ${key} adapts module ${module}, which base model ${baseId} does not have`);
    if (!matchesTarget(module, config.targetModules)) {
      throw new RouterRetrieverError("PARSE_ERROR", `${weightsPath}: tensor ${key} adapts module ${module}, which target_modules [${config.targetModules.join(", ")}] in ${ADAPTER_CONFIG_FILE} does not select`);
    }
    const want = which === "A" ? [r, shape.inFeatures] : [shape.outFeatures, r];
    if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
      throw new RouterRetrieverError(
        "SHAPE_MISMATCH",
        `${weightsPath}: tensor ${key} has shape ${fmt(t.shape)}, but base model ${baseId} needs ${fmt(want)} ` +
          `(module ${module}: in ${shape.inFeatures}, out ${shape.outFeatures}; rank r=${r} from ${ADAPTER_CONFIG_FILE})`,
      );
    }
    const entry = found.get(module) ?? {};
    entry[which] = t.data;
    found.set(module, entry);
  }

  const weights = new Map<string, LoraMatrices>();
  // resolveTargets also refuses a target that matches no module of this base (e.g. "q_proj" on BERT).
  for (const module of resolveTargets(base, config.targetModules)) {
    const e = found.get(module);
    for (const which of ["A", "B"] as const) {
      if (!e?.[which]) throw new RouterRetrieverError("NOT_FOUND", `${weightsPath}: no tensor ${peftTensorName(module, which)} for targeted module ${module}`);
    }
    weights.set(module, { A: e!.A!, B: e!.B! });
  }
  if (weights.size === 0) throw new RouterRetrieverError("NOT_FOUND", `${weightsPath}: no LoRA tensors for this base model`);

  const id = opts.id ?? ours.id ?? basename(root);
  if (id === BASE) throw new RouterRetrieverError("CONFLICT", `${root}: expert id "${BASE}" is reserved for the base model; pass another id`);
  if (id === "") throw new RouterRetrieverError("BAD_INPUT", `${root}: expert id is empty`);
  const expert: LoraExpert = { id, config, baseModelId: declared ?? baseId, weights, meta: ours.meta };
  // Every shape was checked above against this base: encoders taking it need not check again.
  markExpertFits(expert, base);
  return expert;
}
