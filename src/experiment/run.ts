/**
 * Our Table 1: every system on every dataset's test queries (nDCG@10).
 *
 * 1. One ExpertEncoder holds every expert (and the Multi-Task LoRA); each dataset's corpus is
 *    embedded once by the base (cached).
 * 2. The pilot library is built from each domain's TRAINING queries (train qrels, ArguAna's
 *    generated queries, or, for domains with no queries at all, pseudo-queries from the corpus),
 *    never from test queries.
 * 3. Each test query is encoded once per candidate; its nDCG@10 under every candidate is the
 *    table every system is scored from (a router's score is the score of the candidate it picks),
 *    so routers, oracles and single models are compared on identical retrievals.
 */
import { basename, join } from "node:path";
import { loadBeirDataset } from "../data/beir.js";
import { corpusIndexFor, ignoreIdenticalIdsFor } from "../evaluation/evaluate.js";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import { loadExpert } from "../experts/peft.js";
import type { LoraExpert } from "../experts/types.js";
import type { VectorIndex } from "../vectors/store.js";
import type { Precision } from "../model/bert-graph.js";
import type { LoadedModel } from "../model/encoder.js";
import { Encoder } from "../model/encoder.js";
import { classificationHeadRouter, datasetRouter, expertClassifierRouter, fixedRouter } from "../routing/baselines.js";
import { datasetOracle, instanceOracle, routedScore } from "../routing/oracles.js";
import { buildPilotLibrary, libraryFromLabels, queriesFromPairs, relabel, type PilotDomain, type PilotLabels } from "../routing/pilots.js";
import { pilotRouter } from "../routing/router.js";
import { encodeCandidates, scoreVectors } from "../routing/scores.js";
import { BASE, type PilotLibrary, type QueryRouter, type RoutingDecision } from "../routing/types.js";
import { loadTrainingPairs, type TrainingSource } from "../data/pairs.js";

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
  readonly maxPilotQueriesPerDomain?: number;
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
  readonly library: PilotLibrary;
  readonly labels: PilotLabels;
  readonly pilotSources: Record<string, TrainingSource>;
  /** For the projection plot: a sample of test-query base vectors per dataset. */
  readonly projectionSample: { readonly dataset: string; readonly vector: Float32Array }[];
}

export const MULTITASK = "multitask";

export async function runExperiment(model: LoadedModel, o: ExperimentOptions): Promise<ExperimentResult> {
  const progress = o.onProgress ?? (() => {});
  const experts: LoraExpert[] = [...o.experts].map(([id, dir]) => loadExpert(dir, model, { id }));
  const multitask = o.multitaskDir ? loadExpert(o.multitaskDir, model, { id: MULTITASK }) : undefined;
  const encoder = await ExpertEncoder.create(model, multitask ? [...experts, multitask] : experts, { threads: o.threads, precision: o.precision });
  const baseEncoder = await Encoder.create(model, { threads: o.threads, precision: o.precision });
  const candidates = [BASE, ...experts.map((e) => e.id)];

  // Corpora (cached base vectors) and each domain's training queries for the pilots.
  const indexes = new Map<string, VectorIndex>();
  const tests = new Map<string, Awaited<ReturnType<typeof loadBeirDataset>>>();
  const pilotDomains: PilotDomain[] = [];
  const pilotSources: Record<string, TrainingSource> = {};
  for (const d of o.domains) {
    const ds = await loadBeirDataset(d.dir, "test");
    tests.set(d.name, ds);
    const index = await corpusIndexFor(ds, baseEncoder, { cacheDir: o.cacheDir, onCorpusProgress: (p) => progress(`encode ${d.name} corpus`, p.done, p.total) });
    indexes.set(d.name, index);
    const training = await loadTrainingPairs(d.dir, "auto", o.seed ?? 0);
    pilotSources[d.name] = training.source;
    const { queries, qrels } = queriesFromPairs(training.pairs);
    pilotDomains.push({ name: d.name, index, qrels, queries, expert: d.expert, ignoreIdenticalIds: ignoreIdenticalIdsFor(d.name) });
  }
  await baseEncoder.close();

  progress("pilot library", 0, 1);
  const { library, labels } = await buildPilotLibrary({
    encoder,
    domains: pilotDomains,
    candidates,
    maxQueriesPerDomain: o.maxPilotQueriesPerDomain ?? 300,
    seed: o.seed ?? 0,
    onProgress: (p) => progress(`pilot queries (${p.candidate})`, p.done, p.total),
  });
  progress("pilot library", 1, 1);

  const ownFirst = libraryFromLabels(relabel(labels, "own-expert-first"));
  const domainExperts = Object.fromEntries(o.domains.filter((d) => d.expert).map((d) => [d.name, d.expert!]));
  progress("router baselines", 0, 3);
  const routers: QueryRouter[] = [
    datasetRouter(labels, { domainExperts, seed: o.seed ?? 0 }),
    expertClassifierRouter(labels),
    classificationHeadRouter(labels),
    { ...pilotRouter(library, { aggregate: "max", similarity: "dot" }), name: "RouterRetriever (max, dot)" },
    { ...pilotRouter(library, { aggregate: "max", similarity: "cosine" }), name: "RouterRetriever (max, cosine)" },
    { ...pilotRouter(library, { aggregate: "mean", similarity: "cosine" }), name: "RouterRetriever (mean, cosine)" },
    // Same labels, ties to the domain's own expert (no re-encoding: labels keep every score).
    { ...pilotRouter(ownFirst, { aggregate: "mean", similarity: "dot" }), name: "RouterRetriever (own-expert ties)" },
    { ...pilotRouter(ownFirst, { aggregate: "mean", similarity: "cosine" }), name: "RouterRetriever (own-expert ties, cosine)" },
    // The paper's rule: mean over an expert's pilots, dot product.
    { ...pilotRouter(library, { aggregate: "mean", similarity: "dot" }), name: "RouterRetriever" },
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

  for (const d of o.domains) {
    const ds = tests.get(d.name)!;
    const queries = ds.queries.map((q) => ({ id: q.id, text: q.text }));
    const all = multitask ? [...candidates, MULTITASK] : candidates;
    const vectors = await encodeCandidates(encoder, queries.map((q) => q.text), all, { onProgress: (p) => progress(`${d.name} test queries (${p.candidate})`, p.done, p.total) });
    const table = scoreVectors({ index: indexes.get(d.name)!, queries, qrels: ds.qrels, vectors, ignoreIdenticalIds: ignoreIdenticalIdsFor(d.name) });
    const scored = [...table.get(BASE)!.keys()];
    const rowOf = new Map(queries.map((q, i) => [q.id, i]));
    const baseAll = vectors.get(BASE)!;
    const dims = encoder.dims;
    const base = new Float32Array(scored.length * dims);
    scored.forEach((q, i) => base.set(baseAll.subarray(rowOf.get(q)! * dims, (rowOf.get(q)! + 1) * dims), i * dims));
    for (let i = 0; i < Math.min(scored.length, 150); i++) projectionSample.push({ dataset: d.name, vector: base.slice(i * dims, (i + 1) * dims) });

    perQuery[d.name] = Object.fromEntries(scored.map((q) => [q, { scores: Object.fromEntries(all.map((c) => [c, table.get(c)!.get(q)!])), routed: {} as Record<string, string> }]));
    const record = (name: string, decisions: readonly (RoutingDecision | string)[], routing: boolean): void => {
      const r = routedScore(table, scored, decisions);
      const s = sys(name, routing);
      s.ndcg[d.name] = r.ndcg;
      if (routing) s.routing![d.name] = { ...r.counts };
      scored.forEach((q, i) => {
        const dcs = decisions[i]!;
        perQuery[d.name]![q]!.routed[name] = typeof dcs === "string" ? dcs : dcs.expert;
      });
    };
    for (const r of singles) record(r.name, r.route(base, scored.length), false);
    if (multitask) record("Multi-Task", scored.map(() => MULTITASK), false);
    for (const r of routers) record(r.name, r.route(base, scored.length), true);
    const dor = datasetOracle(table, candidates);
    sys("Best Individual (DatasetOracle)").ndcg[d.name] = dor.ndcg;
    const ior = instanceOracle(table, candidates);
    const io = sys("InstanceOracle", true);
    io.ndcg[d.name] = ior.ndcg;
    io.routing![d.name] = { ...ior.counts };
  }
  await encoder.close();

  const order = ["Base (MiniLM, general)", "Multi-Task", ...experts.map((e) => `Expert: ${e.id}`), "DatasetRouter", "ExpertClassifierRouter", "ClassificationHeadRouter", "RouterRetriever (max, dot)", "RouterRetriever (max, cosine)", "RouterRetriever (mean, cosine)", "RouterRetriever (own-expert ties)", "RouterRetriever (own-expert ties, cosine)", "RouterRetriever", "Best Individual (DatasetOracle)", "InstanceOracle"];
  const ordered = [...systems.values()].sort((a, b) => rank(order, a.system) - rank(order, b.system));
  return {
    datasets: o.domains.map((d) => d.name),
    withExpert: o.domains.filter((d) => d.expert).map((d) => d.name),
    candidates,
    systems: ordered,
    perQuery,
    library,
    labels,
    pilotSources,
    projectionSample,
  };
}

function rank(order: readonly string[], name: string): number {
  const i = order.findIndex((o) => name === o || name.startsWith(o));
  return i < 0 ? order.length : i;
}

/** Default domains: every dataset folder, with an expert where `experts` has one of that name. */
export function defaultDomains(datasetsDir: string, names: readonly string[], experts: ReadonlyMap<string, string>): ExperimentDomain[] {
  return names.map((n) => ({ name: basename(n), dir: join(datasetsDir, n), ...(experts.has(n) ? { expert: n } : {}) }));
}
