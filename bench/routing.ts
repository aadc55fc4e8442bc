/**
 * Routing cost: a RouterRetriever query takes two passes (base embedding -> route -> base +
 * expert embedding) where a plain retriever takes one. Measures per-query time of base-only
 * encoding vs route + expert encoding at batch 1 and 32, in the same process, same texts.
 * Writes bench/results/routing.json.
 *
 *   npx tsx bench/routing.ts [--experts results/experts] [--reps 5]
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

const { values } = parseArgs({ options: { experts: { type: "string", default: join(projectRoot, "results", "experts") }, reps: { type: "string", default: "5" } } });
const model = loadModel(defaultModelSpec());
const cfg = { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "value"] };
const experts: LoraExpert[] = ["scifact", "arguana", "cosqa"].map((name, i) => {
  const dir = join(values.experts!, name);
  return existsSync(join(dir, "adapter_config.json")) ? loadExpert(dir, model, { id: name }) : randomExpert(model, cfg, i + 1, { id: name });
});
// Today's base (unfused fp32 graph) beside the fused fp32 and int8 sessions, all on 1 thread.
const plainBase = await Encoder.create(model, { threads: 1, fusions: NO_FUSIONS });
const sessions = new Map<Precision, { base: Encoder; enc: ExpertEncoder }>();
for (const precision of PRECISIONS) {
  sessions.set(precision, { base: await Encoder.create(model, { threads: 1, precision }), enc: await ExpertEncoder.create(model, experts, { threads: 1, precision }) });
}
const base = sessions.get("fp32")!.base;

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
const words = "protein cell gene study effect argument policy python function list sort string aircraft wing flow library index search".split(" ");
const query = (i: number) => Array.from({ length: 8 + (i % 8) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" ");

const reps = Number(values.reps);
const rows: Record<string, number | string>[] = [];
for (const batch of [1, 32]) {
  const texts = Array.from({ length: batch }, (_, i) => query(i));
  const routed = (p: Precision) => async (): Promise<unknown> => {
    const { base: b, enc } = sessions.get(p)!;
    const decisions = route(lib, await b.encode(texts), PAPER_RULE);
    return enc.encode(texts, decisions.map((d) => d.expert));
  };
  const variants: [string, () => Promise<unknown>][] = [
    ["base-only fp32 unfused (before issue 10)", () => plainBase.encode(texts)],
    ["base-only fp32", () => sessions.get("fp32")!.base.encode(texts)],
    ["base-only int8", () => sessions.get("int8")!.base.encode(texts)],
    ["routed fp32", routed("fp32")],
    ["routed int8", routed("int8")],
  ];
  // Interleaved repetitions, so machine load falls on every variant alike.
  const ms = new Map(variants.map(([n]) => [n, 0]));
  for (const [, f] of variants) await f();
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
const out = join(projectRoot, "bench", "results", "routing.json");
writeJsonAtomic(out, { date: new Date().toISOString(), loadAverage: loadavg()[0], experts: experts.map((e) => e.id), pilots: lib.pilots.length, rows });
console.log(`written ${out}`);
await plainBase.close();
for (const { base: b, enc } of sessions.values()) await Promise.all([b.close(), enc.close()]);
