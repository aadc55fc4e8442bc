/**
 * Each of cranfield, cisi and cacm treated in turn as "the new domain" (issue 13): a fresh
 * store with the three trained experts (results/experts) and the experiment's pilot library
 * restricted to their own three domains, then `addDomain` with the new corpus alone (documents
 * stored, expert trained on pseudo-queries, registered with routing evidence from those same
 * pseudo-queries). No test query is used until the evaluation.
 *
 * Reports nDCG@10 on the test queries for: the base model; the new expert alone; routed
 * (RouterRetriever over base + 3 experts + the new one, with the new domain's evidence pilots);
 * and routed after the existing experts were scored on the new domain (scoreExpertsOnDomain).
 * Also the wall-clock time of addDomain per stage and where the test queries were routed.
 *
 *   npx tsx bench/new-domain.ts [--datasets cranfield,cisi,cacm] [--threads 1] [--work /tmp/rr-new-domain]
 *
 * Writes results/new-domain/{results.json,table.md}; one dataset at a time, resumable per
 * dataset (a finished dataset's entry in results.json is kept).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadBeirDataset } from "../src/data/beir.js";
import { RouterRetriever } from "../src/engine/router-retriever.js";
import { evaluateDataset } from "../src/evaluation/evaluate.js";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { loadExpert } from "../src/experts/peft.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { loadPilotLibrary, savePilotLibrary } from "../src/routing/persist.js";
import { libraryFromLabels } from "../src/routing/pilots.js";
import { BASE } from "../src/routing/types.js";
import { writeFileAtomic, writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";
import { addDomain } from "../src/workflows/add-domain.js";

const { values } = parseArgs({
  options: {
    datasets: { type: "string", default: "cranfield,cisi,cacm" },
    threads: { type: "string", default: "1" },
    work: { type: "string", default: "/tmp/rr-new-domain" },
    experts: { type: "string", default: join(projectRoot, "results", "experts") },
    pilots: { type: "string", default: join(projectRoot, "results", "experiment", "pilots-with-labels.json") },
    out: { type: "string", default: join(projectRoot, "results", "new-domain") },
    // Smoke runs only (the reported table uses addDomain's defaults).
    epochs: { type: "string" },
    "max-pairs": { type: "string" },
  },
});
const shared = sharedDatasetsDir();
if (!shared) throw new Error("../shared/datasets not found");
const threads = Number(values.threads);
const EXISTING = ["scifact", "arguana", "cosqa"];
const model = loadModel(defaultModelSpec());

// The existing library: the experiment's, restricted to the three expert domains (its
// no-expert domains are exactly the ones added here as new).
const loaded = loadPilotLibrary(values.pilots!, model.spec.id);
if (!loaded.labels) throw new Error(`${values.pilots}: saved without labels`);
const keep = new Set(EXISTING);
const labels = { ...loaded.labels, domains: loaded.labels.domains.filter((d) => keep.has(d.name)), labels: loaded.labels.labels.filter((l) => keep.has(l.domain)) };
mkdirSync(values.work!, { recursive: true });
const libPath = join(values.work!, "pilots-existing.json");
savePilotLibrary(libPath, libraryFromLabels(labels), labels);

mkdirSync(values.out!, { recursive: true });
const resultsPath = join(values.out!, "results.json");
const results: Record<string, unknown> = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, "utf8")) : {};

const log = (m: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);

for (const name of values.datasets!.split(",")) {
  if (results[name]) {
    log(`${name}: done before, kept`);
    continue;
  }
  const ds = await loadBeirDataset(join(shared, name), "test");
  const root = join(values.work!, name);
  rmSync(root, { recursive: true, force: true });
  const expertsDir = join(root, "experts");
  for (const e of EXISTING) cpSync(join(values.experts!, e), join(expertsDir, e), { recursive: true });
  const rr = await RouterRetriever.open({ store: join(root, "store"), expertsDir, pilotsPath: libPath, threads, onWarning: log });
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
  log(`${name}: addDomain ${JSON.stringify(added.seconds)}`);

  // Evaluation: test queries, the new domain's corpus only (what the store holds).
  const texts = ds.queries.map((q) => q.text);
  const base = await Encoder.create(model, { threads });
  const all = [...EXISTING, name].map((e) => loadExpert(join(expertsDir, e), model, { id: e }));
  const enc = await ExpertEncoder.create(model, all, { threads });
  const routes = async (): Promise<string[]> => (await rr.searchBatch(texts, 10)).map((r) => r.expert);
  const ndcg = async (ids: string | readonly string[]): Promise<number> =>
    (await evaluateDataset(ds, base, { ks: [10], encodeQueries: async (t) => (ids === BASE ? base.encode(t) : enc.encode(t, ids)) })).mean["ndcg@10"]!;
  const count = (rs: readonly string[]): Record<string, number> => rs.reduce<Record<string, number>>((m, e) => ((m[e] = (m[e] ?? 0) + 1), m), {});
  const routed = await routes();
  const row: Record<string, unknown> = {
    documents: ds.corpus.length,
    testQueries: ds.queries.length,
    base: await ndcg(BASE),
    expertAlone: await ndcg(name),
    routed: await ndcg(routed),
    routes: count(routed),
  };
  const scored = await rr.scoreExpertsOnDomain(name);
  const routed2 = await routes();
  Object.assign(row, { routedScored: await ndcg(routed2), routesScored: count(routed2), scoredExperts: scored.scored });
  Object.assign(row, { addDomain: { seconds: added.seconds, training: added.training, evidence: added.evidence, pilots: added.expert.pilots } });
  log(`${name}: ${JSON.stringify(row)}`);
  results[name] = row;
  writeJsonAtomic(resultsPath, results);
  await enc.close();
  await base.close();
  await rr.close();
}

// Table (x100, like results/experiment/table1.md).
type Row = { documents: number; testQueries: number; base: number; expertAlone: number; routed: number; routedScored: number; routes: Record<string, number>; addDomain: { seconds: { total: number } } };
const f = (x: number): string => (100 * x).toFixed(1);
const lines = [
  "# Each no-expert dataset as \"the new domain\": nDCG@10 (x100), test queries",
  "",
  "Produced by: `npx tsx bench/new-domain.ts " + process.argv.slice(2).filter((a) => !a.startsWith("/tmp")).join(" ").replace(/--work\s*/, "") + "` (expert and pilots from pseudo-queries of the corpus alone; no test query used before evaluation).",
  "Existing experts: scifact, arguana, cosqa (results/experts), pilots from the experiment's library restricted to their three domains.",
  "",
  "| new domain | docs | test queries | base | new expert alone | routed | routed, existing experts scored on it | routes (routed) | addDomain s |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
];
for (const [name, r] of Object.entries(results as Record<string, Row>)) {
  lines.push(`| ${name} | ${r.documents} | ${r.testQueries} | ${f(r.base)} | ${f(r.expertAlone)} | ${f(r.routed)} | ${f(r.routedScored)} | ${Object.entries(r.routes).map(([e, n]) => `${e} ${n}`).join(", ")} | ${r.addDomain.seconds.total.toFixed(0)} |`);
}
writeFileAtomic(join(values.out!, "table.md"), lines.join("\n") + "\n");
process.stdout.write(lines.join("\n") + "\n");
