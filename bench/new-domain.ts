/**
 * Each of cranfield, cisi and cacm treated in turn as "the new domain" (issue 13): a fresh
 * store with the existing experts (default results/experts: scifact, arguana, cosqa) and the
 * demo's labelled pilot library restricted to their own three domains (its labelled queries and
 * pilots of cranfield, cisi and cacm are dropped, so the router knows nothing of the new domain;
 * the labels are kept, because the default router, knn, routes with them), then `addDomain`
 * with the new corpus alone: documents stored, an expert trained on pseudo-queries, registered
 * with routing evidence from those same pseudo-queries. No test query is used before the
 * evaluation.
 *
 * Reports nDCG@10 on the test queries for: the base model; the new expert alone; routed (the
 * engine's own search with the default router, DEFAULT_RULE, over base + the existing experts
 * + the new one); and routed after the existing experts were scored on the new domain
 * (scoreExpertsOnDomain). Also addDomain's wall-clock seconds per stage and where the test
 * queries were routed.
 *
 *   npx tsx bench/new-domain.ts [--datasets cranfield,cisi,cacm] [--threads 1] [--work /tmp/rr-new-domain]
 *
 * Two phases, so that routing can be re-evaluated without retraining:
 *   make      per dataset, once: addDomain on a fresh store; the store right after it is kept
 *             as <work>/<name>/store-added (with the expert folder and add-domain.json). Skipped
 *             when add-domain.json exists; delete <work>/<name> to retrain.
 *   evaluate  every run, for every made dataset: a copy of store-added is opened (so scoring
 *             the existing experts never leaks into the next run) and evaluated.
 * Writes results/new-domain/{results.json,table.md}, with the existing experts' and pilot
 * library's sha256 (the experts are retrained from time to time).
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { loadBeirDataset } from "../src/data/beir.js";
import { RouterRetriever } from "../src/engine/router-retriever.js";
import { evaluateDataset } from "../src/evaluation/evaluate.js";
import { evaluateRun } from "../src/evaluation/metrics.js";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { loadExpert } from "../src/experts/peft.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { describeRule } from "../src/routing/router.js";
import { loadPilotLibrary, savePilotLibrary } from "../src/routing/persist.js";
import { libraryFromLabels, type PilotLabels } from "../src/routing/pilots.js";
import { BASE, DEFAULT_RULE } from "../src/routing/types.js";
import { writeFileAtomic, writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";
import { addDomain } from "../src/workflows/add-domain.js";

const { values } = parseArgs({
  options: {
    datasets: { type: "string", default: "cranfield,cisi,cacm" },
    threads: { type: "string", default: "1" },
    work: { type: "string", default: "/tmp/rr-new-domain" },
    experts: { type: "string", default: join(projectRoot, "results", "experts") },
    pilots: { type: "string", default: join(projectRoot, "demo", "pilots.json") },
    out: { type: "string", default: join(projectRoot, "results", "new-domain") },
    // Smoke runs only (the reported table uses addDomain's defaults).
    epochs: { type: "string" },
    "max-pairs": { type: "string" },
    // The router's base margin (serve/search --base-margin); default: DEFAULT_RULE's own.
    "base-margin": { type: "string" },
  },
});
const RULE = values["base-margin"] === undefined ? DEFAULT_RULE : { ...DEFAULT_RULE, baseBias: Number(values["base-margin"]) };
const shared = sharedDatasetsDir();
if (!shared) throw new Error("../shared/datasets not found");
const threads = Number(values.threads);
const EXISTING = ["scifact", "arguana", "cosqa"];
const work = values.work!;
const model = loadModel(defaultModelSpec());
const log = (m: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sha256 = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");
const shown = (p: string): string => (p.startsWith(projectRoot) ? relative(projectRoot, p) : p);

// The existing library: the demo's labelled one (copied on the first run, like the experts
// below), restricted to the existing experts' domains, labels included: the default router
// (knn) routes with the labelled queries, and without them the engine would fall back to the
// centroid rule. Its labelled queries of cranfield, cisi and cacm are dropped with their pilots,
// so the router knows nothing of the new domain.
mkdirSync(work, { recursive: true });
const pilotsUsed = join(work, "pilots-source.json");
if (!existsSync(pilotsUsed)) cpSync(values.pilots!, pilotsUsed);
const loaded = loadPilotLibrary(pilotsUsed, model.spec.id);
if (!loaded.labels) throw new Error(`${values.pilots}: the pilot library has no labelled queries; the default router (${describeRule(DEFAULT_RULE)}) needs them (demo/pilots.json has them)`);
const keep = new Set(EXISTING);
const keptLabels: PilotLabels = { ...loaded.labels, domains: loaded.labels.domains.filter((d) => keep.has(d.name)), labels: loaded.labels.labels.filter((l) => keep.has(l.domain)) };
for (const e of EXISTING) if (!keptLabels.labels.some((l) => l.domain === e)) throw new Error(`${values.pilots}: no labelled query of ${e}`);
const existing = libraryFromLabels(keptLabels);
const libPath = join(work, "pilots-existing.json");
savePilotLibrary(libPath, existing, keptLabels);

const made = (name: string): string => join(work, name, "add-domain.json");
// The existing experts as they are now, copied once: the lead retrains them from time to time,
// and every dataset of one run must use the same ones (their hashes go into results.json).
const used = join(work, "experts-used");
if (!existsSync(used)) for (const e of EXISTING) cpSync(join(values.experts!, e), join(used, e), { recursive: true });

// Phase 1: make each new domain's expert once.
for (const name of values.datasets!.split(",")) {
  if (existsSync(made(name))) {
    log(`${name}: made before (${made(name)}), kept`);
    continue;
  }
  const ds = await loadBeirDataset(join(shared, name), "test");
  const root = join(work, name);
  const expertsDir = join(root, "store-added", "experts");
  // An interrupted addDomain resumes (stored documents skipped, training from its last epoch
  // checkpoint); one that registered its expert but was not recorded starts over.
  const resumed = existsSync(root) && !existsSync(join(expertsDir, name));
  if (!resumed) {
    rmSync(root, { recursive: true, force: true });
    for (const e of EXISTING) cpSync(join(used, e), join(expertsDir, e), { recursive: true });
  }
  const rr = await RouterRetriever.open({ store: join(root, "store-added", "store"), expertsDir, pilotsPath: libPath, threads, onWarning: log });
  let lastLog = 0;
  const added = await addDomain(rr, {
    name,
    documents: ds.corpus.map((d) => ({ id: d.id, title: d.title, text: d.text })),
    threads,
    epochs: values.epochs !== undefined ? Number(values.epochs) : undefined,
    maxPairs: values["max-pairs"] !== undefined ? Number(values["max-pairs"]) : undefined,
    onProgress: (p) => {
      if (p.message) log(`${name}: ${p.stage}: ${p.message}`);
      else if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`${name}: ${p.stage} ${p.done}/${p.total} ${p.unit}`);
      }
    },
  });
  await rr.close();
  log(`${name}: addDomain ${JSON.stringify(added.seconds)}`);
  writeJsonAtomic(made(name), {
    madeAt: new Date().toISOString(),
    threads,
    // A resumed run's seconds cover only the part after the interruption.
    resumed,
    loadAverageAtEnd: (await import("node:os")).loadavg(),
    seconds: added.seconds,
    documents: added.documents,
    training: added.training,
    evidence: added.evidence,
    pilots: added.expert.pilots,
  });
}

// Phase 2: evaluate every made dataset on a fresh copy of its store.
const results: Record<string, unknown> = {};
const base = await Encoder.create(model, { threads });
for (const name of values.datasets!.split(",")) {
  if (!existsSync(made(name))) continue;
  const ds = await loadBeirDataset(join(shared, name), "test");
  const root = join(work, name);
  const evalDir = join(root, "store-eval");
  rmSync(evalDir, { recursive: true, force: true });
  cpSync(join(root, "store-added"), evalDir, { recursive: true });
  const expertsDir = join(evalDir, "experts");
  const rr = await RouterRetriever.open({ store: join(evalDir, "store"), expertsDir, pilotsPath: libPath, threads, rule: RULE, onWarning: log });
  const all = [...EXISTING, name].map((e) => loadExpert(join(expertsDir, e), model, { id: e }));
  const enc = await ExpertEncoder.create(model, all, { threads });
  const texts = ds.queries.map((q) => q.text);
  const perQuery = new Map<string, Map<string, number>>();
  const alone = async (id: string): Promise<number> => {
    const ev = await evaluateDataset(ds, base, { ks: [10], encodeQueries: async (t) => (id === BASE ? base.encode(t) : enc.encode(t, id)) });
    perQuery.set(id, new Map([...ev.perQuery].map(([q, m]) => [q, m["ndcg@10"]!])));
    return ev.mean["ndcg@10"]!;
  };
  const baseNdcg = await alone(BASE);
  const expertNdcg = await alone(name);
  // Routed: the engine's own search (soft mix and all) over the store, which holds exactly the new domain's documents.
  const routed = async () => {
    const res = await rr.searchBatch(texts, 10);
    const notes = new Set(res.map((r) => r.routingNote).filter((n) => n !== undefined));
    if (notes.size > 0) throw new Error(`${name}: the router did not route with its rule: ${[...notes].join("; ")}`);
    const run = new Map(ds.queries.map((q, i) => [q.id, res[i]!.hits.map((h) => ({ id: h.id, score: h.score }))]));
    const routes: Record<string, number> = {};
    for (const r of res) routes[r.expert] = (routes[r.expert] ?? 0) + 1;
    // How much of the mix went to the new expert, and its knn margin over the (biased) base.
    const w = res.map((r) => r.weights[name] ?? 0);
    const margin = res.map((r) => (r.scores[name] ?? Number.NaN) - (r.scores[BASE] ?? Number.NaN) - (RULE.baseBias ?? 0));
    const finite = margin.filter((m) => Number.isFinite(m));
    return {
      ndcg: evaluateRun(ds.qrels, run, { ks: [10], ignoreIdenticalIds: false }).mean["ndcg@10"]!,
      routes,
      newExpertWeight: { mean: mean(w), atLeastHalf: w.filter((x) => x >= 0.5).length, above0: w.filter((x) => x > 0).length },
      newExpertMargin: { mean: mean(finite), min: Math.min(...finite), max: Math.max(...finite), finite: finite.length },
    };
  };
  const r1 = await routed();
  const scored = await rr.scoreExpertsOnDomain(name);
  const r2 = await routed();
  // The evidence the new expert was registered with: its pseudo-queries' nDCG@10, base vs expert.
  const evidence = JSON.parse(readFileSync(join(expertsDir, name, "routing.json"), "utf8")) as { items: { text: string; scores: Record<string, number> }[] };
  const evBase = evidence.items.map((it) => it.scores[BASE]!);
  const evExp = evidence.items.map((it) => it.scores[name]!);
  // On the test queries (used only here, after the fact): where the expert alone beats the base.
  const testGain = [...perQuery.get(name)!].map(([q, v]) => v - perQuery.get(BASE)!.get(q)!);
  const row = {
    documents: ds.corpus.length,
    testQueries: ds.queries.length,
    base: baseNdcg,
    expertAlone: expertNdcg,
    routed: r1.ndcg,
    routes: r1.routes,
    routedScored: r2.ndcg,
    routesScored: r2.routes,
    scoredExperts: scored.scored,
    newExpertWeight: r1.newExpertWeight,
    newExpertMargin: r1.newExpertMargin,
    newExpertWeightScored: r2.newExpertWeight,
    evidence: {
      queries: evidence.items.length,
      base: mean(evBase),
      expert: mean(evExp),
      gain: mean(evExp) - mean(evBase),
      bothPerfect: evidence.items.filter((_, i) => evBase[i] === 1 && evExp[i] === 1).length,
      expertBetter: evidence.items.filter((_, i) => evExp[i]! > evBase[i]!).length,
      baseBetter: evidence.items.filter((_, i) => evExp[i]! < evBase[i]!).length,
    },
    testGain: { mean: mean(testGain), expertBetter: testGain.filter((g) => g > 0).length, baseBetter: testGain.filter((g) => g < 0).length },
    addDomain: JSON.parse(readFileSync(made(name), "utf8")),
  };
  log(`${name}: ${JSON.stringify(row)}`);
  results[name] = row;
  await enc.close();
  await rr.close();
  rmSync(evalDir, { recursive: true, force: true });
}
await base.close();

const usedInfo = {
  rule: describeRule(RULE),
  // Copied from --experts when the work folder was first made (a later run reuses that copy).
  experts: Object.fromEntries(EXISTING.map((e) => [e, { copiedFrom: shown(join(values.experts!, e)), adapterSha256: sha256(join(used, e, "adapter_model.safetensors")) }])),
  pilots: { copiedFrom: shown(values.pilots!), sha256: sha256(pilotsUsed), domainsKept: existing.domains, labelledQueriesKept: keptLabels.labels.length },
};
writeJsonAtomic(join(values.out!, "results.json"), { used: usedInfo, datasets: results });

// Table (x100, like results/experiment/table1.md).
type Row = { documents: number; testQueries: number; base: number; expertAlone: number; routed: number; routedScored: number; routes: Record<string, number>; addDomain: { seconds: { total: number } } };
type Diag = { evidence: { base: number; expert: number; gain: number; bothPerfect: number; queries: number }; testGain: { mean: number }; newExpertWeight: { mean: number }; newExpertMargin: { mean: number } };
const f = (x: number): string => (100 * x).toFixed(1);
const lines = [
  "# Each no-expert dataset as \"the new domain\": nDCG@10 (x100), test queries",
  "",
  "Produced by: `npx tsx bench/new-domain.ts" + (values.datasets !== "cranfield,cisi,cacm" ? ` --datasets ${values.datasets}` : "") + ` --threads ${threads}` + (values["base-margin"] !== undefined ? ` --base-margin ${values["base-margin"]}` : "") + (values.out !== join(projectRoot, "results", "new-domain") ? ` --out ${relative(projectRoot, values.out!)}` : "") + `\` (expert and pilots from pseudo-queries of the corpus alone; no test query used before evaluation).`,
  `Existing experts: ${EXISTING.join(", ")} (${shown(values.experts!)}; adapter sha256 ${EXISTING.map((e) => `${e} ${usedInfo.experts[e]!.adapterSha256.slice(0, 12)}`).join(", ")}); pilots: ${shown(values.pilots!)} (sha256 ${usedInfo.pilots.sha256.slice(0, 12)}) restricted to their three domains (${keptLabels.labels.length} labelled queries). Router: ${usedInfo.rule}${RULE === DEFAULT_RULE ? " (the default)" : ` (the default with --base-margin ${RULE.baseBias})`}.`,
  "",
  "| new domain | docs | test queries | base | new expert alone | routed | routed, existing experts scored on it | routes (routed) | addDomain s |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
];
for (const [name, r] of Object.entries(results as Record<string, Row>)) {
  lines.push(`| ${name} | ${r.documents} | ${r.testQueries} | ${f(r.base)} | ${f(r.expertAlone)} | ${f(r.routed)} | ${f(r.routedScored)} | ${Object.entries(r.routes).map(([e, n]) => `${e} ${n}`).join(", ")} | ${r.addDomain.seconds.total.toFixed(0)} |`);
}
lines.push(
  "",
  "Why the routes (routed column): the knn rule gives the new expert its gain over the base on the pseudo-queries (with domainShare, its mean",
  `gain over all of them, weighted by the new domain's share of the query's 128 nearest labelled queries); it is on top where that beats the base margin (${RULE.baseBias}). Evidence: its scored pseudo-queries; test: the`,
  "test queries, each model alone (read after the fact, never used by the router).",
  "",
  `| new domain | evidence: base, expert (x100) | evidence gain | pseudo-queries both at nDCG 1 | test gain | new expert on top | its mean weight in the mix | mean knn margin over base+${RULE.baseBias ?? 0} |`,
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
);
for (const [name, r] of Object.entries(results as Record<string, Row & Diag>)) {
  lines.push(
    `| ${name} | ${f(r.evidence.base)}, ${f(r.evidence.expert)} | ${f(r.evidence.gain)} | ${r.evidence.bothPerfect} of ${r.evidence.queries} | ${f(r.testGain.mean)} | ${r.routes[name] ?? 0} of ${r.testQueries} | ${r.newExpertWeight.mean.toFixed(2)} | ${r.newExpertMargin.mean.toFixed(3)} |`,
  );
}
mkdirSync(values.out!, { recursive: true });
writeFileAtomic(join(values.out!, "table.md"), lines.join("\n") + "\n");
process.stdout.write(lines.join("\n") + "\n");
