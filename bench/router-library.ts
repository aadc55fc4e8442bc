/**
 * Router settings scored on the experiment's dev and test sets with any labelled pilot library:
 * the experiment chooses its router on its own library (2,000 training queries per domain), but
 * the service routes with the demo's (300 per domain), and a rule that reads its neighbours
 * depends on how dense the library is. Same dev splits, same objective (select.ts: the mean of
 * the seen and unseen six-domain averages on dev); test is printed for the record.
 *
 *   npx tsx bench/router-library.ts [--labels demo/pilots.json] [--rules '<JSON array of RoutingRule>'] [--threads 2]
 *
 * Each row also gives its dev objective's difference from the first row's, with the paired
 * standard error over the dev queries (select.ts objectiveDifference): how far apart two
 * settings must be before dev can tell them apart.
 * Writes bench/results/router-library-<labels file name>.json. Default rules: DEFAULT_RULE and the previous default (neighbour domains, same margin and mix).
 * The dev/test query sets (every candidate's embeddings and per-query nDCG@10 with the experts in
 * results/experts) are encoded once and cached in <cache>/router-library-sets.json
 * (default ~/.cache/routerretriever), keyed by nothing: delete it after retraining an expert.
 * Soft settings are scored with the embedding mix (a), as the experiment scores them on dev.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { loadBeirDataset, type Qrels } from "../src/data/beir.js";
import { trainingData } from "../src/data/pairs.js";
import { ignoreIdenticalIdsFor } from "../src/evaluation/evaluate.js";
import { evalSet } from "../src/experiment/run.js";
import { averages, Libraries, mean, objective, objectiveDifference, scoreSetting, settingName, settingPerQuery, type EvalSet, type PerQueryScores } from "../src/experiment/select.js";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { loadExpert } from "../src/experts/peft.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { loadPilotLibrary } from "../src/routing/persist.js";
import { BASE, DEFAULT_RULE, type RoutingRule } from "../src/routing/types.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";
import { corpusVectors, defaultCacheDir } from "../src/vectors/encode-corpus.js";
import type { VectorIndex } from "../src/vectors/store.js";

const { values } = parseArgs({
  options: {
    labels: { type: "string", default: join(projectRoot, "demo", "pilots.json") },
    rules: { type: "string" },
    threads: { type: "string", default: "2" },
    cache: { type: "string", default: join(defaultCacheDir(), "router-library-sets.json") },
  },
});
const root = sharedDatasetsDir();
if (!root) {
  console.error("router-library: ../shared/datasets is absent; nothing to score");
  process.exit(0);
}
const names = ["scifact", "arguana", "cosqa", "cranfield", "cisi", "cacm"];
const experts = ["scifact", "arguana", "cosqa"];
const candidates = [BASE, ...experts];
const model = loadModel(defaultModelSpec());
const { labels } = loadPilotLibrary(values.labels!, model.spec.id);
if (!labels) throw new Error(`${values.labels}: saved without labels; the knn rules need them`);
const threads = Number(values.threads);

interface RawSet {
  domain: string;
  queryIds: string[];
  texts: string[];
  vectors: Record<string, string>;
  table: Record<string, Record<string, number>>;
  qrels: Record<string, Record<string, number>>;
}
const b64 = (v: Float32Array): string => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
const f32 = (s: string): Float32Array => {
  const b = Buffer.from(s, "base64");
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

const baseEncoder = await Encoder.create(model, { threads });
const indexes = new Map<string, VectorIndex>();
for (const n of names) indexes.set(n, (await corpusVectors(baseEncoder, (await loadBeirDataset(join(root, n), "test")).corpus)).index);
await baseEncoder.close();

let raw: { dev: RawSet[]; test: RawSet[] };
if (existsSync(values.cache!)) raw = JSON.parse(readFileSync(values.cache!, "utf8")) as typeof raw;
else {
  const encoder = await ExpertEncoder.create(model, experts.map((id) => loadExpert(join(projectRoot, "results", "experts", id), model, { id })), { threads });
  const encodeSet = async (domain: string, queries: { id: string; text: string }[], qrels: Qrels): Promise<RawSet> => {
    const set = await evalSet(encoder, { name: domain, dir: join(root, domain), ...(experts.includes(domain) ? { expert: domain } : {}) }, indexes.get(domain)!, queries, qrels, candidates, () => {});
    return {
      domain,
      queryIds: [...set.queryIds],
      texts: [...set.texts],
      vectors: Object.fromEntries([...set.vectors].map(([c, v]) => [c, b64(v)])),
      table: Object.fromEntries([...set.table].map(([c, m]) => [c, Object.fromEntries(m)])),
      qrels: Object.fromEntries([...qrels].map(([q, m]) => [q, Object.fromEntries(m)])),
    };
  };
  raw = { dev: [], test: [] };
  for (const n of names) {
    // The experiment's dev split: train-expert's hold-out (seed 0, defaults).
    const training = await trainingData(join(root, n), "auto", 0, {});
    raw.dev.push(await encodeSet(n, [...training.dev.queries].map(([id, text]) => ({ id, text })), training.dev.qrels));
    const ds = await loadBeirDataset(join(root, n), "test");
    raw.test.push(await encodeSet(n, ds.queries.map((q) => ({ id: q.id, text: q.text })), ds.qrels));
    console.error(`encoded ${n} dev and test queries`);
  }
  await encoder.close();
  mkdirSync(dirname(values.cache!), { recursive: true });
  writeJsonAtomic(values.cache!, raw);
}

const toSet = (r: RawSet): EvalSet => {
  const vectors = new Map(Object.entries(r.vectors).map(([c, s]) => [c, f32(s)]));
  return {
    domain: r.domain,
    ...(experts.includes(r.domain) ? { ownExpert: r.domain } : {}),
    queryIds: r.queryIds,
    texts: r.texts,
    base: vectors.get(BASE)!,
    vectors,
    table: new Map(Object.entries(r.table).map(([c, m]) => [c, new Map(Object.entries(m))])),
    index: indexes.get(r.domain)!,
    qrels: new Map(Object.entries(r.qrels).map(([q, m]) => [q, new Map(Object.entries(m))])),
    ignoreIdenticalIds: ignoreIdenticalIdsFor(r.domain),
  };
};
const dev = raw.dev.map(toSet);
const test = raw.test.map(toSet);
const libs = new Libraries(labels);
const previous: RoutingRule = { aggregate: "knn", similarity: "cosine", neighbours: 128, domainShare: 1, temperature: 0.05, topM: 2, baseBias: 0.1 };
const rules = values.rules ? (JSON.parse(values.rules) as RoutingRule[]) : [DEFAULT_RULE, previous];

const pct = (x: number): string => (100 * x).toFixed(1);
console.log(`library: ${values.labels} (${labels.labels.length} labelled queries)\n`);
console.log(`| setting | dev objective | vs the first row (1 SE) | dev seen | dev unseen | test seen (${names.join(", ")}) | test seen avg | test unseen avg |`);
console.log("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |");
let first: PerQueryScores | undefined;
const rows = rules.map((rule) => {
  const s = { tie: "base-first" as const, rule };
  const perQuery = settingPerQuery(libs, s, dev);
  first ??= perQuery;
  const vsFirst = objectiveDifference(perQuery, first);
  // Dev is scored once: its averages come from the same per-query scores.
  const d = averages(perQuery);
  const t = scoreSetting(libs, s, test);
  console.log(`| ${settingName(s)} | ${(100 * objective(d)).toFixed(2)} | ${(100 * vsFirst.diff).toFixed(2)} +- ${(100 * vsFirst.se).toFixed(2)} | ${pct(mean(Object.values(d.seen)))} | ${pct(mean(Object.values(d.unseen)))} | ${names.map((n) => pct(t.seen[n]!)).join(" / ")} | ${pct(mean(Object.values(t.seen)))} | ${pct(mean(Object.values(t.unseen)))} |`);
  return { setting: settingName(s), rule, objective: objective(d), vsFirstRow: vsFirst, dev: d, test: t };
});
writeJsonAtomic(join(projectRoot, "bench", "results", `router-library-${basename(values.labels!, ".json")}.json`), { labels: values.labels, count: labels.labels.length, rows });
