/**
 * Initial LoRA weights, reproducible from a seed. `initLora` follows PEFT's default
 * (init_lora_weights=True, from Microsoft's loralib): A ~ kaiming_uniform_(a=sqrt(5)), which
 * for a [r, in] weight is U(-1/sqrt(in), 1/sqrt(in)), and B = 0, so a fresh expert is an exact
 * no-op and training starts from the base model. `randomExpert` also fills B, for tests that
 * need an expert that actually changes the output.
 */
import type { LoadedModel } from "../model/encoder.js";
import { rng, uniform } from "../util/random.js";
import { linearModules, resolveTargets, checkConfig, type LoraConfig, type LoraExpert, type LoraMatrices, type ExpertMeta } from "./types.js";

/** kaiming_uniform_(a=sqrt(5)) of a [rank, in] weight: U(-1/sqrt(in), 1/sqrt(in)). */
function kaimingA(rank: number, inFeatures: number, rand: () => number): Float32Array {
  const bound = 1 / Math.sqrt(inFeatures);
  return Float32Array.from(uniform(rand, rank * inFeatures, -bound, bound));
}

/** Modules in a fixed (sorted) order so a seed always gives the same weights. */
function targetShapes(base: LoadedModel, cfg: LoraConfig): Array<[string, { inFeatures: number; outFeatures: number }]> {
  checkConfig(cfg, "LoRA config");
  const shapes = linearModules(base);
  return resolveTargets(base, cfg.targetModules)
    .sort()
    .map((m) => [m, shapes.get(m)!]);
}

/** PEFT's default init: A kaiming-uniform (bound 1/sqrt(in)), B zeros. */
export function initLora(base: LoadedModel, cfg: LoraConfig, seed: number): Map<string, LoraMatrices> {
  const rand = rng(seed);
  const out = new Map<string, LoraMatrices>();
  for (const [m, { inFeatures, outFeatures }] of targetShapes(base, cfg)) {
    out.set(m, { A: kaimingA(cfg.rank, inFeatures, rand), B: new Float32Array(outFeatures * cfg.rank) });
  }
  return out;
}

export interface TestExpertOptions {
  readonly id?: string;
  readonly meta?: ExpertMeta;
}

/** An expert whose A and B are all zeros: applying it must reproduce the base exactly. */
export function zeroExpert(base: LoadedModel, cfg: LoraConfig, opts: TestExpertOptions = {}): LoraExpert {
  const weights = new Map<string, LoraMatrices>();
  for (const [m, { inFeatures, outFeatures }] of targetShapes(base, cfg)) {
    weights.set(m, { A: new Float32Array(cfg.rank * inFeatures), B: new Float32Array(outFeatures * cfg.rank) });
  }
  return { id: opts.id ?? "zero", config: cfg, baseModelId: base.spec.id, weights, meta: opts.meta ?? {} };
}

export interface RandomExpertOptions extends TestExpertOptions {
  /** B ~ U(-bBound, bBound). The default (0.05) moves MiniLM embeddings clearly (rank 8, alpha 32 on query+value: cosine to base ~0.97) without wrecking them. */
  readonly bBound?: number;
}

/** A with PEFT's init and a non-zero random B, so the expert visibly changes embeddings. */
export function randomExpert(base: LoadedModel, cfg: LoraConfig, seed: number, opts: RandomExpertOptions = {}): LoraExpert {
  const rand = rng(seed);
  const bBound = opts.bBound ?? 0.05;
  const weights = new Map<string, LoraMatrices>();
  for (const [m, { inFeatures, outFeatures }] of targetShapes(base, cfg)) {
    const A = kaimingA(cfg.rank, inFeatures, rand);
    weights.set(m, { A, B: Float32Array.from(uniform(rand, outFeatures * cfg.rank, -bBound, bBound)) });
  }
  return { id: opts.id ?? `random-${seed}`, config: cfg, baseModelId: base.spec.id, weights, meta: opts.meta ?? {} };
}
