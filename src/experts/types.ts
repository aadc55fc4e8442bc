/**
 * What a LoRA expert is in memory, and the checks that decide whether it fits a base model.
 * Module names are BERT module paths as PEFT names them inside a BertModel
 * ("encoder.layer.3.attention.self.query"); A is [rank, in] and B is [out, rank], row-major,
 * exactly torch's nn.Linear layout, so PEFT files map onto these arrays without transposes.
 */
import { RouterRetrieverError } from "../errors.js";
import { LINEAR_MODULES, matchesTarget } from "../model/bert-graph.js";
import type { LoadedModel } from "../model/encoder.js";
import type { JsonValue } from "../util/json.js";

export interface LoraConfig {
  readonly rank: number;
  readonly alpha: number;
  /** Training-time dropout on the LoRA branch's input; inference ignores it. */
  readonly dropout: number;
  /** PEFT target_modules: a module is adapted when its path equals a target or ends with ".target". */
  readonly targetModules: readonly string[];
  /** PEFT's use_rslora: scale alpha/sqrt(r) instead of alpha/r. */
  readonly useRslora?: boolean;
}

export interface LoraMatrices {
  /** [rank, in] row-major. */
  readonly A: Float32Array;
  /** [out, rank] row-major, WITHOUT the alpha/r scale (as PEFT stores it). */
  readonly B: Float32Array;
}

/** Our own bookkeeping, stored beside (never inside) PEFT's files. */
export interface ExpertMeta {
  readonly domain?: string;
  /** What the expert was trained on and how (free-form JSON; `description` for humans). */
  readonly training?: { readonly description?: string; readonly [key: string]: JsonValue | undefined };
  readonly metrics?: Readonly<Record<string, number>>;
  /** ISO 8601; filled in at save time when absent. */
  readonly createdAt?: string;
  readonly extra?: { readonly [key: string]: JsonValue };
}

export interface LoraExpert {
  readonly id: string;
  readonly config: LoraConfig;
  /** The ModelSpec id of the base the expert was trained on (PEFT's base_model_name_or_path). */
  readonly baseModelId: string;
  /** Keyed by module path; the keys are the modules this expert adapts. */
  readonly weights: ReadonlyMap<string, LoraMatrices>;
  readonly meta: ExpertMeta;
}

/** The id that always means "no LoRA"; no expert may take it. */
export const BASE = "base";

/**
 * The LoRA targets experts are trained with by default, and so what every expert session can
 * adapt: every linear layer of a BERT layer (PEFT suffixes: query, key, value, and "dense" for
 * the attention output and both FFN projections). Chosen on dev over PEFT's query+value
 * (results/train-experts.sh: SciFact dev nDCG@10 0.675 -> 0.721, ArguAna 0.572 -> 0.589,
 * CoSQA 0.341 -> 0.351).
 */
export const DEFAULT_LORA_TARGETS: readonly string[] = ["query", "key", "value", "dense"];

/** PEFT's LoRA scale (LoraLayer.update_layer): alpha/r, or alpha/sqrt(r) with rsLoRA. */
export function loraScale(cfg: LoraConfig): number {
  return cfg.useRslora ? cfg.alpha / Math.sqrt(cfg.rank) : cfg.alpha / cfg.rank;
}

export interface LinearShape {
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/**
 * The linear layers the BERT graph computes (and so the only ones a LoRA can change), with
 * their sizes read from the loaded weights, which is what the graph itself multiplies by.
 */
export function linearModules(base: LoadedModel): ReadonlyMap<string, LinearShape> {
  const out = new Map<string, LinearShape>();
  for (let l = 0; l < base.spec.config.numLayers; l++) {
    for (const suffix of LINEAR_MODULES) {
      const module = `encoder.layer.${l}.${suffix}`;
      const w = base.weights.get(`${module}.weight`);
      if (!w || w.shape.length !== 2) continue;
      out.set(module, { outFeatures: w.shape[0]!, inFeatures: w.shape[1]! });
    }
  }
  return out;
}

/**
 * Resolves PEFT-style targets to concrete module paths of this base. Every target must match
 * something: PEFT itself refuses targets that are not in the model, and a silent no-op target
 * would hide a typo like "q_proj" on a BERT model.
 */
export function resolveTargets(base: LoadedModel, targets: readonly string[]): string[] {
  const modules = [...linearModules(base).keys()];
  for (const t of targets) {
    if (!modules.some((m) => matchesTarget(m, [t]))) {
      throw new RouterRetrieverError(
        "NOT_FOUND",
        `target module "${t}" matches no linear layer of base model ${base.spec.id} (its layers have: ${LINEAR_MODULES.join(", ")})`,
      );
    }
  }
  return modules.filter((m) => matchesTarget(m, targets));
}

function isPositiveInt(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

/** Checks the config alone (no base needed): what saveExpert can verify before writing. */
export function checkConfig(cfg: LoraConfig, where: string): void {
  if (!isPositiveInt(cfg.rank)) throw new RouterRetrieverError("BAD_INPUT", `${where}: rank must be a positive integer, got ${cfg.rank}`);
  if (!Number.isFinite(cfg.alpha)) throw new RouterRetrieverError("BAD_INPUT", `${where}: alpha must be a finite number, got ${cfg.alpha}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new RouterRetrieverError("BAD_INPUT", `${where}: dropout must be in [0, 1), got ${cfg.dropout}`);
  if (cfg.targetModules.length === 0) throw new RouterRetrieverError("BAD_INPUT", `${where}: targetModules is empty`);
}

/** Checks an expert's internal consistency: sizes divisible by its rank, modules targeted. */
export function checkExpertSelf(expert: LoraExpert): void {
  const where = `expert "${expert.id}"`;
  if (expert.id === "" || expert.id === BASE) {
    throw new RouterRetrieverError("BAD_INPUT", `expert id "${expert.id}" is reserved or empty`);
  }
  checkConfig(expert.config, where);
  const r = expert.config.rank;
  for (const [module, { A, B }] of expert.weights) {
    if (!matchesTarget(module, expert.config.targetModules)) {
      throw new RouterRetrieverError("BAD_INPUT", `${where}: module ${module} is not matched by targetModules [${expert.config.targetModules.join(", ")}]`);
    }
    if (A.length === 0 || A.length % r !== 0 || B.length === 0 || B.length % r !== 0) {
      throw new RouterRetrieverError(
        "SHAPE_MISMATCH",
        `${where}: module ${module} has ${A.length} values in A and ${B.length} in B, not multiples of rank ${r}`,
      );
    }
  }
}

/** Experts whose shapes were validated against a base, so they are validated once, at the door. */
const FITS = new WeakMap<LoraExpert, LoadedModel>();

/**
 * Records that `expert` was validated against `base` (loadExpert validates while reading the
 * files, with messages that name the file and tensor).
 */
export function markExpertFits(expert: LoraExpert, base: LoadedModel): void {
  FITS.set(expert, base);
}

/**
 * Checks that an expert can be applied to this base: every adapted module exists with the
 * sizes A and B imply. The model id is not checked here (loadExpert owns that policy, with
 * its override); shapes are what make the arithmetic valid. An expert already validated
 * against this base (by loadExpert or an earlier call) is not checked again.
 */
export function checkExpertFits(expert: LoraExpert, base: LoadedModel): void {
  if (FITS.get(expert) === base) return;
  checkExpertSelf(expert);
  const modules = linearModules(base);
  const r = expert.config.rank;
  for (const [module, { A, B }] of expert.weights) {
    const shape = modules.get(module);
    if (!shape) throw new RouterRetrieverError("NOT_FOUND", `expert "${expert.id}": base model ${base.spec.id} has no linear module ${module}`);
    const wantA = r * shape.inFeatures;
    const wantB = shape.outFeatures * r;
    if (A.length !== wantA || B.length !== wantB) {
      throw new RouterRetrieverError(
        "SHAPE_MISMATCH",
        `expert "${expert.id}": module ${module} needs A [${r},${shape.inFeatures}] and B [${shape.outFeatures},${r}] ` +
          `(${wantA} and ${wantB} values) on base model ${base.spec.id}, got ${A.length} and ${B.length} values`,
      );
    }
  }
  FITS.set(expert, base);
}
