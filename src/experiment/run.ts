/**
 * Our Table 1: every system on every dataset's test queries (nDCG@10).
 *
 * 1. One ExpertEncoder holds every expert (and the Multi-Task LoRA); each dataset's corpus is
 *    embedded once by the base (cached).
 * 2. Each domain's TRAINING queries (train qrels, ArguAna's generated queries, or, for domains
 *    with no queries at all, pseudo-queries from the corpus) are split exactly as train-expert
 *    splits them: the dev hold-out (qrels/dev.tsv when the dataset has one, else 10% of the
 *    training queries, at most 200) is where every router setting is chosen (select.ts); the
 *    rest (all of it by default: Algorithm 1) builds the pilot library. Test queries are only
 *    scored.
 * 3. Each dev and test query is encoded once per candidate; its nDCG@10 under every candidate is the
 *    table every system is scored from (a router's score is the score of the candidate it picks),
 *    so routers, oracles and single models are compared on identical retrievals.
 */
import { basename, join } from "node:path";
import { loadBeirDataset } from "../data/beir.js";
import { ignoreIdenticalIdsFor } from "../evaluation/evaluate.js";
import { corpusVectors } from "../vectors/encode-corpus.js";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import { loadExpert } from "../experts/peft.js";
import type { LoraExpert } from "../experts/types.js";
import type { VectorIndex } from "../vectors/store.js";
import type { Precision } from "../model/bert-graph.js";
import type { LoadedModel } from "../model/encoder.js";
import { Encoder } from "../model/encoder.js";
import { classificationHeadRouter, datasetRouter, expertClassifierRouter, fixedRouter } from "../routing/baselines.js";
import { datasetOracle, instanceOracle, routedScore } from "../routing/oracles.js";
import { buildPilotLibrary, libraryFromLabels, relabel, type PilotDomain, type PilotLabels } from "../routing/pilots.js";
import { pilotRouter, route } from "../routing/router.js";
import { encodeCandidates, scoreVectors } from "../routing/scores.js";
import { BASE, type PilotLibrary, type QueryRouter, type RoutingDecision } from "../routing/types.js";
import { queriesFromPairs, trainingData, type DevSet, type TrainingSource } from "../data/pairs.js";
import type { Qrels } from "../data/beir.js";
import { PAPER_RULE, mixesCandidates, type RoutingRule } from "../routing/types.js";
import { Libraries, scoreDecisions, selectRouter, settingName, type EvalSet, type RouterSetting, type Selection } from "./select.js";

export interface ExperimentDomain {
  readonly name: string;
  readonly dir: string;
  /** The domain's own expert id, when it has one. */
  readonly expert?: string;
}

export interface ExperimentOptions {
  readonly domains: readonly ExperimentDomain[];
  /** Expert id -> PEFT folder. */
  readonly experts: ReadonlyMap<string, string>;
  readonly multitaskDir?: string;
  /** Training queries per domain for the pilot library; default: all of them (Algorithm 1). */
  readonly maxPilotQueriesPerDomain?: number;
  /** The dev hold-out, as train-expert takes it (defaults 0.1 and 200). */
  readonly devFraction?: number;
  readonly devMaxQueries?: number;
  readonly seed?: number;
  readonly threads?: number;
  /** Encoder arithmetic for corpora and queries (default fp32; see BertGraphOptions.precision). */
  readonly precision?: Precision;
  readonly cacheDir?: string;
  readonly onProgress?: (stage: string, done: number, total: number) => void;
}

export interface SystemResult {
  readonly system: string;
  /** dataset -> nDCG@10 */
  readonly ndcg: Record<string, number>;
  /** dataset -> expert -> queries routed there (routers and oracles only) */
  readonly routing?: Record<string, Record<string, number>>;
}

export interface ExperimentResult {
  readonly datasets: readonly string[];
  readonly withExpert: readonly string[];
  readonly candidates: readonly string[];
  readonly systems: readonly SystemResult[];
  /** dataset -> queryId -> { candidate nDCG@10s, each router's choice } */
  readonly perQuery: Record<string, Record<string, { scores: Record<string, number>; routed: Record<string, string> }>>;
  /** The pilot library with the chosen setting's tie rule: what a service routes with. */
  readonly library: PilotLibrary;
  /** The labels, relabelled with the chosen tie rule. */
  readonly labels: PilotLabels;
  readonly pilotSources: Record<string, TrainingSource>;
  /** Every router setting tried, scored on dev (chosen there) and on test (reported only). */
  readonly selection: Selection;
  /** Soft routing, the chosen soft setting: embedding mix (a) vs mixing inside the encoder (b), dev and test. */
  readonly softForms: readonly { readonly form: string; readonly setting: string; readonly dev: Record<string, number>; readonly test: Record<string, number> }[];
  /** Queries per domain: pilots, dev, test; and the seconds the pilot library took. */
  readonly counts: Record<string, { pilots: number; dev: number; test: number }>;
  readonly pilotSeconds: number;
  /** For the projection plot: a sample of test-query base vectors per dataset. */
  readonly projectionSample: { readonly dataset: string; readonly vector: Float32Array }[];
}

export const MULTITASK = "multitask";

export async function runExperiment(model: LoadedModel, o: ExperimentOptions): Promise<ExperimentResult> {
  const progress = o.onProgress ?? (() => {});
  const seed = o.seed ?? 0;
  const experts: LoraExpert[] = [...o.experts].map(([id, dir]) => loadExpert(dir, model, { id }));
  const multitask = o.multitaskDir ? loadExpert(o.multitaskDir, model, { id: MULTITASK }) : undefined;
  const encoder = await ExpertEncoder.create(model, multitask ? [...experts, multitask] : experts, { threads: o.threads, precision: o.precision });
  const baseEncoder = await Encoder.create(model, { threads: o.threads, precision: o.precision });
  const candidates = [BASE, ...experts.map((e) => e.id)];
  const withMultitask = multitask ? [...candidates, MULTITASK] : candidates;

  // Corpora (cached base vectors); each domain's training queries split into pilots and dev.
  const indexes = new Map<string, VectorIndex>();
  const tests = new Map<string, Awaited<ReturnType<typeof loadBeirDataset>>>();
  const devs = new Map<string, DevSet>();
  const pilotDomains: PilotDomain[] = [];
  const pilotSources: Record<string, TrainingSource> = {};
  for (const d of o.domains) {
    const ds = await loadBeirDataset(d.dir, "test");
    tests.set(d.name, ds);
    const { index } = await corpusVectors(baseEncoder, ds.corpus, { cacheDir: o.cacheDir, onProgress: (p) => progress(`encode ${d.name} corpus`, p.done, p.total) });
    indexes.set(d.name, index);
    const training = await trainingData(d.dir, "auto", seed, { devFraction: o.devFraction, devMaxQueries: o.devMaxQueries });
    pilotSources[d.name] = training.source;
    devs.set(d.name, training.dev);
    const { queries, qrels } = queriesFromPairs(training.pairs);
    pilotDomains.push({ name: d.name, index, qrels, queries, expert: d.expert, ignoreIdenticalIds: training.ignoreIdenticalIds || ignoreIdenticalIdsFor(d.name) });
  }
  await baseEncoder.close();

  progress("pilot library", 0, 1);
  const t0 = performance.now();
  const { library, labels } = await buildPilotLibrary({
    encoder,
    domains: pilotDomains,
    candidates,
    maxQueriesPerDomain: o.maxPilotQueriesPerDomain ?? Number.MAX_SAFE_INTEGER,
    seed,
    onProgress: (p) => progress(`pilot queries (${p.candidate})`, p.done, p.total),
  });
  const pilotSeconds = (performance.now() - t0) / 1000;
  progress("pilot library", 1, 1);

  // Dev and test sets: every candidate's embeddings and per-query nDCG@10.
  const devSets: EvalSet[] = [];
  const testSets: EvalSet[] = [];
  for (const d of o.domains) {
    const dev = devs.get(d.name)!;
    const ds = tests.get(d.name)!;
    devSets.push(await evalSet(encoder, d, indexes.get(d.name)!, [...dev.queries].map(([id, text]) => ({ id, text })), dev.qrels, candidates, (done, total, c) => progress(`${d.name} dev queries (${c})`, done, total)));
    testSets.push(await evalSet(encoder, d, indexes.get(d.name)!, ds.queries.map((q) => ({ id: q.id, text: q.text })), ds.qrels, withMultitask, (done, total, c) => progress(`${d.name} test queries (${c})`, done, total)));
  }

  // Every router setting on dev (the choice) and test (the report).
  const libs = new Libraries(labels);
  const selection = selectRouter(libs, devSets, testSets, (done, total) => progress("router settings", done, total));
  const paper: RouterSetting = { tie: "base-first", rule: PAPER_RULE };

  // Soft routing, both forms, for the best soft setting on dev.
  const bestSoft = [...selection.results].filter((r) => mixesCandidates(r.setting.rule)).sort((a, b) => b.objective - a.objective)[0];
  const softForms: ExperimentResult["softForms"][number][] = [];
  if (bestSoft) {
    for (const form of ["embedding mix (a)", "encoder mix (b)"] as const) {
      const score = async (sets: readonly EvalSet[]): Promise<Record<string, number>> => {
        const out: Record<string, number> = {};
        for (const set of sets) {
          const decisions = route(libs.get(bestSoft.setting.tie), set.base, bestSoft.setting.rule);
          const mixed = form === "encoder mix (b)" ? await encoderMix(encoder, set, decisions) : undefined;
          out[set.domain] = mean([...scoreDecisions(set, decisions, mixed).values()]);
        }
        return out;
      };
      softForms.push({ form, setting: bestSoft.name, dev: await score(devSets), test: await score(testSets) });
    }
  }

  const ownFirst = libraryFromLabels(relabel(labels, "own-expert-first"));
  const domainExperts = Object.fromEntries(o.domains.filter((d) => d.expert).map((d) => [d.name, d.expert!]));
  progress("router baselines", 0, 3);
  const chosen = selection.chosen.setting;
  const pilotRouterFor = (s: RouterSetting, name: string): QueryRouter => ({ ...pilotRouter(s.tie === "base-first" ? library : ownFirst, s.rule), name });
  const routers: QueryRouter[] = [
    datasetRouter(labels, { domainExperts, seed }),
    expertClassifierRouter(labels),
    classificationHeadRouter(labels),
    pilotRouterFor(paper, PAPER_ROW),
    pilotRouterFor(selection.chosenHard.setting, `RouterRetriever (best hard on dev: ${settingName(selection.chosenHard.setting)})`),
  ];
  progress("router baselines", 3, 3);

  const singles: QueryRouter[] = [fixedRouter(BASE, "Base (MiniLM, general)"), ...experts.map((e) => fixedRouter(e.id, `Expert: ${e.id}`))];
  const systems = new Map<string, SystemResult>();
  const sys = (name: string, routing = false): SystemResult => {
    if (!systems.has(name)) systems.set(name, { system: name, ndcg: {}, ...(routing ? { routing: {} } : {}) });
    return systems.get(name)!;
  };
  const perQuery: ExperimentResult["perQuery"] = {};
  const projectionSample: ExperimentResult["projectionSample"] = [];

  for (const set of testSets) {
    const name = set.domain;
    const scored = set.queryIds;
    const table = set.table;
    const dims = encoder.dims;
    for (let i = 0; i < Math.min(scored.length, 150); i++) projectionSample.push({ dataset: name, vector: set.base.slice(i * dims, (i + 1) * dims) });
    perQuery[name] = Object.fromEntries(scored.map((q) => [q, { scores: Object.fromEntries(withMultitask.map((c) => [c, table.get(c)!.get(q)!])), routed: {} as Record<string, string> }]));
    const record = (sysName: string, decisions: readonly (RoutingDecision | string)[], routing: boolean, perQ?: ReadonlyMap<string, number>): void => {
      const r = routedScore(table, scored, decisions);
      const s = sys(sysName, routing);
      s.ndcg[name] = perQ ? mean([...perQ.values()]) : r.ndcg;
      if (routing) s.routing![name] = { ...r.counts };
      scored.forEach((q, i) => {
        const dcs = decisions[i]!;
        perQuery[name]![q]!.routed[sysName] = typeof dcs === "string" ? dcs : dcs.expert;
        if (perQ) perQuery[name]![q]!.scores[sysName] = perQ.get(q)!;
      });
    };
    for (const r of singles) record(r.name, r.route(set.base, scored.length), false);
    if (multitask) record("Multi-Task", scored.map(() => MULTITASK), false);
    for (const r of routers) record(r.name, r.route(set.base, scored.length), true);
    // RouterRetriever with the setting chosen on dev; soft decisions are scored by their mix.
    const decisions = route(libs.get(chosen.tie), set.base, chosen.rule);
    const mixed = mixesCandidates(chosen.rule) ? await encoderMix(encoder, set, decisions) : undefined;
    record(CHOSEN_ROW, decisions, true, mixed ? scoreDecisions(set, decisions, mixed) : undefined);
    const dor = datasetOracle(table, candidates);
    sys("Best Individual (DatasetOracle)").ndcg[name] = dor.ndcg;
    const ior = instanceOracle(table, candidates);
    const io = sys("InstanceOracle", true);
    io.ndcg[name] = ior.ndcg;
    io.routing![name] = { ...ior.counts };
  }
  await encoder.close();

  const order = ["Base (MiniLM, general)", "Multi-Task", ...experts.map((e) => `Expert: ${e.id}`), "DatasetRouter", "ExpertClassifierRouter", "ClassificationHeadRouter", PAPER_ROW, "RouterRetriever (best hard", CHOSEN_ROW, "Best Individual (DatasetOracle)", "InstanceOracle"];
  const ordered = [...systems.values()].sort((a, b) => rank(order, a.system) - rank(order, b.system));
  const counts = Object.fromEntries(o.domains.map((d, i) => [d.name, { pilots: labels.labels.filter((l) => l.domain === d.name).length, dev: devSets[i]!.queryIds.length, test: testSets[i]!.queryIds.length }]));
  return {
    datasets: o.domains.map((d) => d.name),
    withExpert: o.domains.filter((d) => d.expert).map((d) => d.name),
    candidates,
    systems: ordered,
    perQuery,
    library: libs.get(chosen.tie),
    labels: chosen.tie === "base-first" ? labels : relabel(labels, chosen.tie),
    pilotSources,
    selection,
    softForms,
    counts,
    pilotSeconds,
    projectionSample,
  };
}

/** The paper's rule (mean over an expert's pilots, dot product, ties to the base). */
export const PAPER_ROW = "RouterRetriever (paper: mean, dot)";
/** The setting chosen on dev: what `search` and the service use by default. */
export const CHOSEN_ROW = "RouterRetriever";

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/** A domain's queries with every candidate's embeddings and nDCG@10 (only queries with a relevant document). */
export async function evalSet(
  encoder: ExpertEncoder,
  d: ExperimentDomain,
  index: VectorIndex,
  queries: readonly { id: string; text: string }[],
  qrels: Qrels,
  candidates: readonly string[],
  onProgress: (done: number, total: number, candidate: string) => void,
): Promise<EvalSet> {
  const vectors = await encodeCandidates(encoder, queries.map((q) => q.text), candidates, { onProgress: (p) => onProgress(p.done, p.total, p.candidate) });
  const ignoreIdenticalIds = ignoreIdenticalIdsFor(d.name);
  const table = scoreVectors({ index, queries, qrels, vectors, ignoreIdenticalIds });
  const scored = [...table.get(BASE)!.keys()];
  const rowOf = new Map(queries.map((q, i) => [q.id, i]));
  const dims = encoder.dims;
  const pick = (v: Float32Array): Float32Array => {
    const out = new Float32Array(scored.length * dims);
    scored.forEach((q, i) => out.set(v.subarray(rowOf.get(q)! * dims, (rowOf.get(q)! + 1) * dims), i * dims));
    return out;
  };
  return {
    domain: d.name,
    ...(d.expert ? { ownExpert: d.expert } : {}),
    queryIds: scored,
    texts: scored.map((q) => queries[rowOf.get(q)!]!.text),
    base: pick(vectors.get(BASE)!),
    vectors: new Map([...vectors].map(([c, v]) => [c, pick(v)])),
    table,
    index,
    qrels,
    ignoreIdenticalIds,
  };
}

/** Form (b): the soft rows mixed inside the encoder, one pass (ExpertEncoder.encodeMixed). */
function encoderMix(encoder: ExpertEncoder, set: EvalSet, decisions: readonly RoutingDecision[]): Promise<(rows: readonly number[]) => Float32Array> {
  // scoreDecisions asks synchronously for the soft rows: encode every row's mix up front.
  return encoder.encodeMixed(set.texts, decisions.map((d) => mixOf(d))).then((all) => (rows: readonly number[]) => {
    const dims = encoder.dims;
    const out = new Float32Array(rows.length * dims);
    rows.forEach((r, j) => out.set(all.subarray(r * dims, (r + 1) * dims), j * dims));
    return out;
  });
}

/** A decision's expert weights without "base" (the base is the encoder's zero delta). */
function mixOf(d: RoutingDecision): Record<string, number> {
  const w = d.weights ?? { [d.expert]: 1 };
  return Object.fromEntries(Object.entries(w).filter(([c]) => c !== BASE));
}

function rank(order: readonly string[], name: string): number {
  const i = order.findIndex((o) => name === o || name.startsWith(o));
  return i < 0 ? order.length : i;
}

/** Default domains: every dataset folder, with an expert where `experts` has one of that name. */
export function defaultDomains(datasetsDir: string, names: readonly string[], experts: ReadonlyMap<string, string>): ExperimentDomain[] {
  return names.map((n) => ({ name: basename(n), dir: join(datasetsDir, n), ...(experts.has(n) ? { expert: n } : {}) }));
}
