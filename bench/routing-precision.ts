/**
 * What a routed query costs in fp32 and in int8 (issue 10): base pass + route + expert pass,
 * beside base-only encoding, at batch 1 and 32, all in one process on the same texts and
 * interleaved repetition by repetition, so machine load falls on every variant alike. The
 * reference is the base-only query of the unfused fp32 graph (before issue 10's fused kernels).
 * Every row takes the second (expert) pass, so "routed" is a routed query's full cost.
 * Routing uses the paper's centroid rule (its cost is negligible; the knn rule's scan of the
 * labelled training queries is timed by bench/routing.ts). Writes bench/results/routing-precision.json.
 *
 *   npx tsx bench/routing-precision.ts [--experts results/experts] [--reps 10] [--threads 1]
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { randomExpert } from "../src/experts/init.js";
import { loadExpert } from "../src/experts/peft.js";
import type { LoraExpert } from "../src/experts/types.js";
import { NO_FUSIONS, PRECISIONS, type Precision } from "../src/model/bert-graph.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { route } from "../src/routing/router.js";
import { BASE, PAPER_RULE, type PilotLibrary } from "../src/routing/types.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot } from "../src/util/paths.js";
import { rng } from "../src/util/random.js";

const { values } = parseArgs({ options: { experts: { type: "string", default: join(projectRoot, "results", "experts") }, reps: { type: "string", default: "10" }, threads: { type: "string", default: "1" } } });
const reps = Number(values.reps);
const threads = Number(values.threads);
if (!Number.isInteger(reps) || reps <= 0 || !Number.isInteger(threads) || threads <= 0) throw new Error("--reps and --threads must be positive integers");
const loadAtStart = loadavg()[0]!;
const model = loadModel(defaultModelSpec());
const cfg = { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "key", "value", "dense"] };
// Trained experts where they exist, else random ones of the same shape (same cost); recorded.
const sources: Record<string, string> = {};
const experts: LoraExpert[] = ["scifact", "arguana", "cosqa"].map((name, i) => {
  const dir = join(values.experts!, name);
  if (existsSync(join(dir, "adapter_config.json"))) {
    sources[name] = dir;
    return loadExpert(dir, model, { id: name });
  }
  sources[name] = `random (seed ${i + 1}): no adapter in ${dir}`;
  console.warn(`bench/routing-precision: ${name}: no adapter in ${dir}; timing a random expert of the same shape instead`);
  return randomExpert(model, cfg, i + 1, { id: name });
});

const plainBase = await Encoder.create(model, { threads, fusions: NO_FUSIONS });
const sessions = new Map<Precision, { base: Encoder; enc: ExpertEncoder }>();
for (const precision of PRECISIONS) {
  sessions.set(precision, { base: await Encoder.create(model, { threads, precision }), enc: await ExpertEncoder.create(model, experts, { threads, precision }) });
}

// A pilot library of realistic size: 6 domains x 4 candidates, random vectors.
const rand = rng(3);
const dims = plainBase.dims;
const candidates = [BASE, ...experts.map((e) => e.id)];
const domains = ["a", "b", "c", "d", "e", "f"];
const lib: PilotLibrary = {
  baseModelId: model.spec.id,
  dims,
  experts: candidates,
  domains,
  pilots: domains.flatMap((domain) => candidates.map((expert) => ({ expert, domain, size: 10, vector: Float32Array.from({ length: dims }, () => rand() - 0.5) }))),
};
const words = "protein cell gene study effect argument policy python function list sort string aircraft wing flow library index search".split(" ");
const query = (i: number): string => Array.from({ length: 8 + (i % 8) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" ");

const rows: { batch: number; variant: string; msPerQuery: number; vsBaseOnlyBefore: number }[] = [];
const routedExperts: Record<string, Record<string, number>> = {};
for (const batch of [1, 32]) {
  const texts = Array.from({ length: batch }, (_, i) => query(i));
  const routed = (p: Precision) => async (): Promise<unknown> => {
    const { base, enc } = sessions.get(p)!;
    const decisions = route(lib, await base.encode(texts), PAPER_RULE);
    const counts = (routedExperts[`${p}@${batch}`] ??= {});
    for (const d of decisions) counts[d.expert] = (counts[d.expert] ?? 0) + 1;
    // Every row takes the expert pass (the engine skips it for rows routed to the base; with
    // random pilots that share would be arbitrary, so this times a routed query's full cost).
    return enc.encode(texts, decisions.map((d) => d.expert));
  };
  const variants: [string, () => Promise<unknown>][] = [
    ["base-only fp32 unfused (before issue 10)", () => plainBase.encode(texts)],
    ["base-only fp32", () => sessions.get("fp32")!.base.encode(texts)],
    ["base-only int8", () => sessions.get("int8")!.base.encode(texts)],
    ["routed fp32", routed("fp32")],
    ["routed int8", routed("int8")],
  ];
  for (const [, f] of variants) await f(); // warm-up
  for (const k of Object.keys(routedExperts)) delete routedExperts[k];
  const ms = new Map(variants.map(([n]) => [n, 0]));
  for (let r = 0; r < reps; r++) {
    for (const [n, f] of variants) {
      const t0 = performance.now();
      await f();
      ms.set(n, ms.get(n)! + (performance.now() - t0) / reps);
    }
  }
  const before = ms.get(variants[0]![0])!;
  for (const [n] of variants) rows.push({ batch, variant: n, msPerQuery: +(ms.get(n)! / batch).toFixed(2), vsBaseOnlyBefore: +(ms.get(n)! / before).toFixed(2) });
}
console.table(rows);
const out = join(projectRoot, "bench", "results", "routing-precision.json");
writeJsonAtomic(out, {
  date: new Date().toISOString(),
  // Shared cores: the load average says how busy they were; only ratios within the run mean anything.
  loadAverage1m: { start: +loadAtStart.toFixed(2), end: +loadavg()[0]!.toFixed(2) },
  threads,
  reps,
  experts: experts.map((e) => e.id),
  expertSources: sources,
  pilots: lib.pilots.length,
  routedTo: routedExperts,
  rows,
});
console.log(`written ${out}`);
await plainBase.close();
for (const { base, enc } of sessions.values()) await Promise.all([base.close(), enc.close()]);
