/**
 * Routing cost: a RouterRetriever query takes two passes (base embedding -> route -> base +
 * expert embedding) where a plain retriever takes one. Measures per-query time of base-only
 * encoding vs route + expert encoding at batch 1 and 32, in the same process, same texts, for
 * hard routing and for both forms of soft routing over the top 2 experts: (a) embed with each
 * expert of the mix and mix the embeddings (one more pass per extra expert), (b) mix the LoRA
 * deltas inside the encoder (one pass, ExpertEncoder.encodeMixed).
 * Writes bench/results/routing.json.
 *
 * The "knn" rule's extra cost is its scan of the labelled training queries (route-only column);
 * the last column is the engine's default (DEFAULT_RULE: knn, soft top-2, one mixed pass).
 *
 *   npx tsx bench/routing.ts [--experts results/experts] [--reps 5] [--instances 9300]
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { randomExpert } from "../src/experts/init.js";
import { loadExpert } from "../src/experts/peft.js";
import type { LoraExpert } from "../src/experts/types.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { route } from "../src/routing/router.js";
import { BASE, decisionWeights, DEFAULT_RULE, PAPER_RULE, type PilotLibrary, type RoutingDecision, type RoutingRule } from "../src/routing/types.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot } from "../src/util/paths.js";
import { rng } from "../src/util/random.js";

const { values } = parseArgs({ options: { experts: { type: "string", default: join(projectRoot, "results", "experts") }, reps: { type: "string", default: "5" }, instances: { type: "string", default: "9300" } } });
const model = loadModel(defaultModelSpec());
const cfg = { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "key", "value", "dense"] };
// A trained expert where one exists, else a random one (same shapes, so the same cost); which
// is which goes into the results, and a stand-in is announced.
const sources: Record<string, string> = {};
const experts: LoraExpert[] = ["scifact", "arguana", "cosqa"].map((name, i) => {
  const dir = join(values.experts!, name);
  if (existsSync(join(dir, "adapter_config.json"))) {
    sources[name] = dir;
    return loadExpert(dir, model, { id: name });
  }
  sources[name] = `random (seed ${i + 1}): no adapter in ${dir}`;
  console.warn(`bench/routing: ${name}: no adapter in ${dir}; timing a random expert of the same shape instead`);
  return randomExpert(model, cfg, i + 1, { id: name });
});
const base = await Encoder.create(model, { threads: 1 });
const enc = await ExpertEncoder.create(model, experts, { threads: 1 });

// A pilot library of realistic size: 6 domains x 4 candidates, random unit vectors.
const rand = rng(3);
const dims = base.dims;
const candidates = [BASE, ...experts.map((e) => e.id)];
const lib: PilotLibrary = {
  baseModelId: model.spec.id,
  dims,
  experts: candidates,
  domains: ["a", "b", "c", "d", "e", "f"],
  pilots: ["a", "b", "c", "d", "e", "f"].flatMap((domain) => candidates.map((expert) => ({ expert, domain, size: 10, vector: Float32Array.from({ length: dims }, () => rand() - 0.5) }))),
};
// The knn rule scans the labelled training queries: as many as the experiment's library holds
// (--instances, default 9,300 ~ 2,000 per domain over six domains), random unit vectors and scores.
const nInst = Number(values.instances);
const instVecs = new Float32Array(nInst * dims);
for (let j = 0; j < nInst; j++) {
  let n = 0;
  for (let i = 0; i < dims; i++) n += (instVecs[j * dims + i] = rand() - 0.5) ** 2;
  for (let i = 0; i < dims; i++) instVecs[j * dims + i]! /= Math.sqrt(n);
}
const knnLib: PilotLibrary = {
  ...lib,
  instances: { count: nInst, vectors: instVecs, domains: Array.from({ length: nInst }, (_, j) => lib.domains[j % 6]!), scores: new Map(candidates.map((c) => [c, Float32Array.from({ length: nInst }, () => rand())])) },
};
// The default rule (knn, domain gains, soft top-2), and the same rule hard.
const knnRule: RoutingRule = { ...DEFAULT_RULE, temperature: 0 };
const words = "protein cell gene study effect argument policy python function list sort string aircraft wing flow library index search".split(" ");
const query = (i: number) => Array.from({ length: 8 + (i % 8) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" ");

const reps = Number(values.reps);
const rows: Record<string, number | string>[] = [];
for (const batch of [1, 32]) {
  const texts = Array.from({ length: batch }, (_, i) => query(i));
  const time = async (f: () => Promise<unknown>): Promise<number> => {
    // Three warm-up calls: the knn scan's JS loops need a few to be compiled at full speed.
    for (let w = 0; w < 3; w++) await f();
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) await f();
    return (performance.now() - t0) / reps;
  };
  const baseMs = await time(() => base.encode(texts));
  // Hard routing with a library and rule: the whole routed query, and the route() call alone.
  const hardRouted = async (l: PilotLibrary, rule: RoutingRule): Promise<{ routedMs: number; routeMs: number }> => {
    let routeMs = 0;
    const routedMs = await time(async () => {
      const bv = await base.encode(texts);
      const t = performance.now();
      const decisions = route(l, bv, rule);
      routeMs = performance.now() - t;
      return enc.encode(texts, decisions.map((d) => d.expert));
    });
    return { routedMs, routeMs };
  };
  const { routedMs, routeMs } = await hardRouted(lib, PAPER_RULE);
  // Soft over the top two experts (base excluded from the candidates, so every row is a real mix).
  const softRule = { aggregate: "mean", similarity: "cosine", temperature: 0.05, topM: 2 } as const;
  const experts2 = new Set(experts.map((e) => e.id));
  const mixes = (ds: readonly RoutingDecision[]) => ds.map((d) => Object.fromEntries(Object.entries(decisionWeights(d)).filter(([c]) => c !== BASE)));
  const softEmbMs = await time(async () => {
    const bv = await base.encode(texts);
    const ms = mixes(route(lib, bv, softRule, experts2));
    // Form (a): one pass per expert that appears in some row's mix, then a weighted sum per row.
    const used = [...new Set(ms.flatMap((m) => Object.keys(m)))];
    const per = new Map<string, Float32Array>();
    for (const e of used) per.set(e, await enc.encode(texts, e));
    const out = new Float32Array(texts.length * dims);
    ms.forEach((m, r) => {
      for (const [e, w] of Object.entries(m)) for (let i = 0; i < dims; i++) out[r * dims + i]! += w * per.get(e)![r * dims + i]!;
    });
    return out;
  });
  const softEncMs = await time(async () => {
    const bv = await base.encode(texts);
    return enc.encodeMixed(texts, mixes(route(lib, bv, softRule, experts2)));
  });
  const { routedMs: knnRoutedMs, routeMs: knnRouteMs } = await hardRouted(knnLib, knnRule);
  // What the engine does by default: base pass, knn route, one mixed pass (form b).
  const defaultMs = await time(async () => {
    const bv = await base.encode(texts);
    return enc.encodeMixed(texts, route(knnLib, bv, DEFAULT_RULE).map((d) => decisionWeights(d)));
  });
  rows.push({
    batch,
    baseOnlyMsPerQuery: +(baseMs / batch).toFixed(2),
    hardRoutedMsPerQuery: +(routedMs / batch).toFixed(2),
    softEmbeddingMixMsPerQuery: +(softEmbMs / batch).toFixed(2),
    softEncoderMixMsPerQuery: +(softEncMs / batch).toFixed(2),
    routeOnlyMsPerQuery: +(routeMs / batch).toFixed(4),
    knnHardRoutedMsPerQuery: +(knnRoutedMs / batch).toFixed(2),
    knnRouteOnlyMsPerQuery: +(knnRouteMs / batch).toFixed(3),
    defaultRuleRoutedMsPerQuery: +(defaultMs / batch).toFixed(2),
    hardVsBase: +(routedMs / baseMs).toFixed(2),
    softEncoderVsHard: +(softEncMs / routedMs).toFixed(2),
    softEmbeddingVsHard: +(softEmbMs / routedMs).toFixed(2),
  });
}
console.table(rows);
const out = join(projectRoot, "bench", "results", "routing.json");
writeJsonAtomic(out, { date: new Date().toISOString(), experts: experts.map((e) => e.id), expertSources: sources, pilots: lib.pilots.length, knnInstances: nInst, rows });
console.log(`written ${out}`);
await base.close();
await enc.close();
