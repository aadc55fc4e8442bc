/**
 * Why a new domain's own test queries do or do not reach its new expert under the default
 * router (issue 13), for the domains bench/new-domain.ts made: the routing evidence is rebuilt
 * from the same expert and documents in a few ways, and the test queries are routed offline
 * (routing/router.ts `route` with DEFAULT_RULE, over the library the engine derives: the
 * existing labelled library plus the domain's evidence, routing/evidence.ts) for each.
 *
 *   npx tsx bench/new-domain-evidence.ts [--datasets cranfield,cisi,cacm] [--work /tmp/rr-new-domain]
 *
 * Evidence variants (all from the corpus alone; test queries are only routed, never scored into
 * the evidence):
 *   as-built     the expert folder's routing.json, exactly what addDomain registered
 *   held-out     the same pseudo-queries restricted to those the trainer held out for dev
 *                (the expert never trained on them)
 *   unsaturated  as-built minus the pseudo-queries on which base and expert both score 1
 *   sentence     500 new pseudo-queries scored here: a sentence of a document's body (never its
 *                title, which is what the expert trained on when the document has one), cut to
 *                32 words, relevant to its own document
 *
 * For each: the evidence's mean nDCG@10 of base and expert, and over the test queries: how many
 * have the new expert on top, the mean weight it gets in the soft mix, and its mean knn margin
 * over the biased base (route() scores). Also, per test query, the expert's gain over the base
 * (nDCG@10 of each alone), so the routes can be read against what would have helped.
 * Writes results/new-domain/evidence.json.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { documentText, loadBeirDataset, type Qrels } from "../src/data/beir.js";
import { holdOutDev, pseudoQueryPairs } from "../src/data/pairs.js";
import { evaluateDataset } from "../src/evaluation/evaluate.js";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { loadExpert } from "../src/experts/peft.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { buildRoutingEvidence, evidenceLibrary, loadRoutingEvidence, mergeLibraries, type RoutingEvidence } from "../src/routing/evidence.js";
import { loadPilotLibrary } from "../src/routing/persist.js";
import { route } from "../src/routing/router.js";
import { BASE, DEFAULT_RULE } from "../src/routing/types.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";
import { rng, shuffled } from "../src/util/random.js";
import { corpusVectors } from "../src/vectors/encode-corpus.js";

const { values } = parseArgs({
  options: {
    datasets: { type: "string", default: "cranfield,cisi,cacm" },
    threads: { type: "string", default: "1" },
    work: { type: "string", default: "/tmp/rr-new-domain" },
    out: { type: "string", default: join(projectRoot, "results", "new-domain", "evidence.json") },
  },
});
const shared = sharedDatasetsDir();
if (!shared) throw new Error("../shared/datasets not found");
const threads = Number(values.threads);
const work = values.work!;
const model = loadModel(defaultModelSpec());
const log = (m: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const EXISTING = ["scifact", "arguana", "cosqa"];

const libPath = join(work, "pilots-existing.json");
if (!existsSync(libPath)) throw new Error(`${libPath} not found: run bench/new-domain.ts with --work ${work} first`);
const existing = loadPilotLibrary(libPath, model.spec.id);
if (!existing.library.instances) throw new Error(`${libPath} has no labelled queries`);

const base = await Encoder.create(model, { threads });
const out: Record<string, unknown> = {};
for (const name of values.datasets!.split(",")) {
  const expertDir = join(work, name, "store-added", "experts", name);
  if (!existsSync(join(work, name, "add-domain.json"))) {
    log(`${name}: not made in ${work}, skipped`);
    continue;
  }
  const ds = await loadBeirDataset(join(shared, name), "test");
  const asBuilt = loadRoutingEvidence(join(expertDir, "routing.json"), model.spec.id);

  // The trainer's dev hold-out, as addDomain's training drew it (same documents, same seed).
  const docs = ds.corpus.filter((d) => !(d.text.trim() === "" && d.title.trim() === ""));
  const pairs = pseudoQueryPairs(docs, 0);
  const held = holdOutDev(pairs, 0.1, 200, 0);
  const devIds = new Set(held.dev.queries.keys());
  const variants: Record<string, RoutingEvidence> = {
    "as-built": asBuilt,
    "held-out": { ...asBuilt, items: asBuilt.items.filter((it) => devIds.has(it.queryId)) },
    unsaturated: { ...asBuilt, items: asBuilt.items.filter((it) => !(it.scores[BASE] === 1 && it.scores[name] === 1)) },
  };

  // Body sentences: one per document (seeded), 500 documents sampled, scored over the same documents.
  const rand = rng(1);
  const sentQ: { id: string; text: string }[] = [];
  const sentQrels: Qrels = new Map();
  for (const d of docs) {
    const sentences = d.text.split(/(?<=[.!?])\s+/).map((x) => x.trim().replace(/\s+/g, " ")).filter((x) => x.split(" ").length >= 4);
    if (sentences.length === 0) continue;
    const text = sentences[Math.floor(rand() * sentences.length)]!.split(" ").slice(0, 32).join(" ");
    sentQ.push({ id: `sentence-${d.id}`, text });
    sentQrels.set(`sentence-${d.id}`, new Map([[d.id, 1]]));
  }
  const picked = shuffled(sentQ, rng(2)).slice(0, 500);
  const byId = new Map(docs.map((d) => [d.id, d]));
  const index = (await corpusVectors(base, asBuilt.documentIds.map((id) => ({ id, text: documentText(byId.get(id)!) })))).index;

  // Test queries: base vectors (what the router reads) and each candidate alone.
  const texts = ds.queries.map((q) => q.text);
  const qv = await base.encode(texts);
  const expert = loadExpert(expertDir, model, { id: name });
  const enc = await ExpertEncoder.create(model, [expert], { threads });
  const perQuery = async (id: string): Promise<Map<string, number>> => {
    const ev = await evaluateDataset(ds, base, { ks: [10], encodeQueries: async (t) => (id === BASE ? base.encode(t) : enc.encode(t, id)) });
    return new Map([...ev.perQuery].map(([q, m]) => [q, m["ndcg@10"]!]));
  };
  variants.sentence = await buildRoutingEvidence({
    encoder: enc,
    expert: name,
    domain: { name, index, queries: picked, qrels: sentQrels, ignoreIdenticalIds: asBuilt.ignoreIdenticalIds },
    querySource: "pseudo",
    maxQueries: 500,
    seed: 0,
  });
  const pb = await perQuery(BASE);
  const pe = await perQuery(name);
  await enc.close();
  const gain = ds.queries.map((q) => (pe.get(q.id) ?? Number.NaN) - (pb.get(q.id) ?? Number.NaN));

  const rows: Record<string, unknown> = {};
  const allowed = new Set([BASE, ...EXISTING, name]);
  for (const [v, ev] of Object.entries(variants)) {
    if (ev.items.length === 0) continue;
    const lib = mergeLibraries(existing.library, [evidenceLibrary(ev, allowed)])!;
    const dec = route(lib, qv, DEFAULT_RULE, allowed);
    const w = dec.map((d) => d.weights?.[name] ?? (d.expert === name ? 1 : 0));
    const margin = dec.map((d) => d.scores[name]! - d.scores[BASE]! - (DEFAULT_RULE.baseBias ?? 0)).filter((m) => Number.isFinite(m));
    const top = dec.filter((d) => d.expert === name).length;
    // Of the test queries the expert alone helps (gain > 0) and hurts (gain < 0): how many got it on top.
    const helped = gain.map((g, i) => [g, dec[i]!.expert === name] as const);
    rows[v] = {
      evidenceQueries: ev.items.length,
      evidenceBase: mean(ev.items.map((it) => it.scores[BASE]!)),
      evidenceExpert: mean(ev.items.map((it) => it.scores[name]!)),
      evidenceGain: mean(ev.items.map((it) => it.scores[name]! - it.scores[BASE]!)),
      testOnTop: top,
      testMeanWeight: mean(w),
      testMeanMargin: mean(margin),
      testMarginFinite: margin.length,
      onTopWhereExpertHelps: helped.filter(([g, t]) => g > 0 && t).length,
      onTopWhereExpertHurts: helped.filter(([g, t]) => g < 0 && t).length,
      routes: dec.reduce<Record<string, number>>((acc, d) => ((acc[d.expert] = (acc[d.expert] ?? 0) + 1), acc), {}),
    };
    log(`${name} ${v}: ${JSON.stringify(rows[v])}`);
  }
  out[name] = {
    testQueries: ds.queries.length,
    testBase: mean([...pb.values()]),
    testExpert: mean([...pe.values()]),
    testGain: mean(gain.filter((g) => Number.isFinite(g))),
    testExpertHelps: gain.filter((g) => g > 0).length,
    testExpertHurts: gain.filter((g) => g < 0).length,
    devHeldOut: devIds.size,
    variants: rows,
  };
}
await base.close();
writeJsonAtomic(values.out!, { rule: DEFAULT_RULE, pilots: libPath, datasets: out });
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
