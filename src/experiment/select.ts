/**
 * Choosing the router on dev (never on test). Every candidate setting (aggregate, similarity,
 * tie rule, base margin, out-of-domain floor, soft temperature and top-m) is scored on a dev
 * split carved from each domain's training queries, in two situations:
 *  - "seen": the library has the domain's pilots (the normal case);
 *  - "unseen": the domain's pilots AND its own expert are left out, so the domain stands for a
 *    domain the library has never seen; the router should then not do worse than the base.
 * The objective is the mean of the two six-domain averages. The same numbers are computed on
 * the test split for the report's dev-vs-test table, but nothing here reads them to choose.
 *
 * Hard settings are scored from the per-query candidate table (no retrieval). Soft settings
 * need a retrieval per query whose mix is not one-hot: mixed here in embedding space (form (a):
 * the weighted sum of the candidates' normalised query embeddings, renormalised), which the
 * experiment compares against mixing inside the encoder (form (b), ExpertEncoder.encodeMixed).
 */
import type { Qrels } from "../data/beir.js";
import type { VectorIndex } from "../vectors/store.js";
import { routedScore } from "../routing/oracles.js";
import { libraryFromLabels, relabel, type PilotLabels, type TieRule } from "../routing/pilots.js";
import { describeRule, nearestInstances, route, type Neighbours } from "../routing/router.js";
import { scoreVectors } from "../routing/scores.js";
import { BASE, DEFAULT_NEIGHBOURS, decisionWeights, mixesCandidates, type CandidateScores, type PilotLibrary, type RoutingDecision, type RoutingRule } from "../routing/types.js";

/** One domain's query set (dev or test) with every candidate's embeddings and per-query nDCG@10. */
export interface EvalSet {
  readonly domain: string;
  readonly ownExpert?: string;
  /** Queries with a relevant document, in row order of `base` and `vectors`. */
  readonly queryIds: readonly string[];
  readonly texts: readonly string[];
  readonly base: Float32Array;
  readonly vectors: ReadonlyMap<string, Float32Array>;
  readonly table: CandidateScores;
  readonly index: VectorIndex;
  readonly qrels: Qrels;
  readonly ignoreIdenticalIds: boolean;
}

export interface RouterSetting {
  readonly tie: TieRule;
  readonly rule: RoutingRule;
}

export function settingName(s: RouterSetting): string {
  return `${describeRule(s.rule)}${s.tie === "own-expert-first" ? ", own-expert ties" : ""}${s.rule.temperature ? "" : ", hard"}`;
}

export interface SplitScores {
  /** domain -> nDCG@10 with the full library. */
  readonly seen: Record<string, number>;
  /** domain -> nDCG@10 with the domain's pilots and own expert left out. */
  readonly unseen: Record<string, number>;
}

export interface SettingResult {
  readonly setting: RouterSetting;
  readonly name: string;
  readonly dev: SplitScores;
  readonly test: SplitScores;
  /** mean(dev seen average, dev unseen average): what the choice maximises. */
  readonly objective: number;
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/** Libraries per (tie rule, left-out domain), built once from the same labels. */
export class Libraries {
  private readonly cache = new Map<string, PilotLibrary>();
  private readonly relabelled = new Map<TieRule, PilotLabels>();
  constructor(private readonly labels: PilotLabels) {}

  get(tie: TieRule, without?: string): PilotLibrary {
    const key = `${tie}|${without ?? ""}`;
    let lib = this.cache.get(key);
    if (!lib) {
      let l = this.relabelled.get(tie);
      if (!l) this.relabelled.set(tie, (l = relabel(this.labels, tie)));
      lib = libraryFromLabels(without === undefined ? l : { ...l, labels: l.labels.filter((x) => x.domain !== without) });
      this.cache.set(key, lib);
    }
    return lib;
  }
}

/** The most neighbours any "knn" setting of the grid asks for: computed once per (library, query set). */
export const MAX_GRID_NEIGHBOURS = 128;
const neighbourMemo = new WeakMap<PilotLibrary, WeakMap<Float32Array, Neighbours>>();

/** Nearest labelled queries of a set's queries, memoised: every "knn" setting reuses one scan. */
export function neighboursOf(lib: PilotLibrary, base: Float32Array): Neighbours {
  let m = neighbourMemo.get(lib);
  if (!m) neighbourMemo.set(lib, (m = new WeakMap()));
  let nb = m.get(base);
  if (!nb) m.set(base, (nb = nearestInstances(lib.instances!, base, lib.dims, MAX_GRID_NEIGHBOURS)));
  return nb;
}

export function decide(libs: Libraries, s: RouterSetting, set: EvalSet, unseen: boolean): RoutingDecision[] {
  const lib = libs.get(s.tie, unseen ? set.domain : undefined);
  const allowed = unseen && set.ownExpert ? new Set(lib.experts.filter((e) => e !== set.ownExpert)) : undefined;
  const nb = s.rule.aggregate === "knn" && lib.instances && (s.rule.neighbours ?? DEFAULT_NEIGHBOURS) <= MAX_GRID_NEIGHBOURS ? neighboursOf(lib, set.base) : undefined;
  return route(lib, set.base, s.rule, allowed, nb);
}

const isOneHot = (w: Readonly<Record<string, number>>): string | undefined => {
  const ks = Object.keys(w).filter((k) => w[k]! > 0);
  return ks.length === 1 ? ks[0] : undefined;
};

/** Embedding-space mix (form (a)): sum_c w_c v_c, renormalised. */
export function mixEmbeddings(set: EvalSet, rows: readonly number[], decisions: readonly RoutingDecision[], dims: number): Float32Array {
  const out = new Float32Array(rows.length * dims);
  rows.forEach((r, j) => {
    const o = out.subarray(j * dims, (j + 1) * dims);
    for (const [c, w] of Object.entries(decisionWeights(decisions[r]!))) {
      const v = set.vectors.get(c)!;
      for (let i = 0; i < dims; i++) o[i]! += w * v[r * dims + i]!;
    }
    let n = 0;
    for (let i = 0; i < dims; i++) n += o[i]! * o[i]!;
    n = Math.sqrt(n) || 1;
    for (let i = 0; i < dims; i++) o[i]! /= n;
  });
  return out;
}

/**
 * nDCG@10 per query of a set of decisions: one-hot rows from the table, mixed rows retrieved
 * with `mixed(rows)` (embedding mix by default; the experiment passes encoder mixes too).
 */
export function scoreDecisions(set: EvalSet, decisions: readonly RoutingDecision[], mixed?: (rows: readonly number[]) => Float32Array): Map<string, number> {
  const perQuery = new Map<string, number>();
  const soft: number[] = [];
  decisions.forEach((d, r) => {
    const one = isOneHot(decisionWeights(d));
    if (one !== undefined) perQuery.set(set.queryIds[r]!, set.table.get(one)!.get(set.queryIds[r]!)!);
    else soft.push(r);
  });
  if (soft.length > 0) {
    const dims = set.index.dims;
    const vecs = mixed ? mixed(soft) : mixEmbeddings(set, soft, decisions, dims);
    const t = scoreVectors({
      index: set.index,
      queries: soft.map((r) => ({ id: set.queryIds[r]!, text: set.texts[r]! })),
      qrels: set.qrels,
      vectors: new Map([["mix", vecs]]),
      ignoreIdenticalIds: set.ignoreIdenticalIds,
    }).get("mix")!;
    for (const [q, v] of t) perQuery.set(q, v);
  }
  return perQuery;
}

/** A setting's nDCG@10 per query: domain -> queryId -> score, seen and unseen (what SplitScores averages). */
export interface PerQueryScores {
  readonly seen: Record<string, ReadonlyMap<string, number>>;
  readonly unseen: Record<string, ReadonlyMap<string, number>>;
}

export function settingPerQuery(libs: Libraries, s: RouterSetting, sets: readonly EvalSet[]): PerQueryScores {
  const seen: Record<string, ReadonlyMap<string, number>> = {};
  const unseen: Record<string, ReadonlyMap<string, number>> = {};
  for (const set of sets) {
    for (const [which, out] of [[false, seen], [true, unseen]] as const) {
      const decisions = decide(libs, s, set, which);
      out[set.domain] = mixesCandidates(s.rule) ? scoreDecisions(set, decisions) : routedScore(set.table, set.queryIds, decisions).perQuery;
    }
  }
  return { seen, unseen };
}

/** Each domain's mean of its per-query scores. */
export function averages(p: PerQueryScores): SplitScores {
  const avg = (r: Record<string, ReadonlyMap<string, number>>): Record<string, number> => Object.fromEntries(Object.entries(r).map(([d, m]) => [d, mean([...m.values()])]));
  return { seen: avg(p.seen), unseen: avg(p.unseen) };
}

export function scoreSetting(libs: Libraries, s: RouterSetting, sets: readonly EvalSet[]): SplitScores {
  return averages(settingPerQuery(libs, s, sets));
}

export function objective(dev: SplitScores): number {
  return (mean(Object.values(dev.seen)) + mean(Object.values(dev.unseen))) / 2;
}

/**
 * objective(a) - objective(b) on the same queries, with its paired standard error: the objective
 * is an average of per-domain means, so its difference's variance is the sum of each domain's
 * (variance of the per-query differences / queries), weighted by the square of its share.
 * How far apart two settings must be before dev can tell them apart.
 */
export function objectiveDifference(a: PerQueryScores, b: PerQueryScores): { readonly diff: number; readonly se: number } {
  const cells = (["seen", "unseen"] as const).flatMap((w) => Object.keys(a[w]).map((d) => [a[w][d]!, b[w][d]!] as const));
  let diff = 0;
  let variance = 0;
  for (const [x, y] of cells) {
    const d = [...x.keys()].map((q) => x.get(q)! - y.get(q)!);
    const m = mean(d);
    const s2 = d.length > 1 ? d.reduce((t, v) => t + (v - m) ** 2, 0) / (d.length - 1) : 0;
    diff += m / cells.length;
    variance += s2 / Math.max(1, d.length) / cells.length ** 2;
  }
  return { diff, se: Math.sqrt(variance) };
}

/** Stage 1: hard settings, scored from the tables (free). */
export function hardGrid(): RouterSetting[] {
  const out: RouterSetting[] = [];
  for (const tie of ["base-first", "own-expert-first"] as const) {
    for (const aggregate of ["mean", "max"] as const) {
      for (const similarity of ["dot", "cosine"] as const) {
        for (const baseBias of [-0.02, -0.01, 0, 0.01, 0.02]) {
          for (const minScore of similarity === "cosine" ? [undefined, 0.3, 0.4, 0.5] : [undefined]) {
            out.push({ tie, rule: { aggregate, similarity, ...(baseBias ? { baseBias } : {}), ...(minScore !== undefined ? { minScore } : {}) } });
          }
        }
      }
    }
  }
  return out;
}

/**
 * Stage 1b: the "knn" rule (each candidate's mean nDCG@10 over the query's nearest labelled
 * training queries). Scores are nDCG@10 expectations, so margins and temperatures are in nDCG
 * units; the tie rule does not apply (raw scores, no argmax labels).
 */
export function knnGrid(): RouterSetting[] {
  const out: RouterSetting[] = [];
  for (const neighbours of [8, 32, 128]) {
    // The margin is in nDCG@10 units; dev kept improving up to 0.05 (the old grid's edge), so the
    // grid goes on until it turns.
    for (const baseBias of [0, 0.01, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2]) {
      for (const minScore of [undefined, 0.5, 0.6]) {
        const rule: RoutingRule = { aggregate: "knn", similarity: "cosine", neighbours, ...(baseBias ? { baseBias } : {}), ...(minScore !== undefined ? { minScore } : {}) };
        out.push({ tie: "base-first", rule });
      }
      // Gains read partly or wholly from the neighbours' domains (RoutingRule.domainShare).
      for (const domainShare of [0.5, 1]) {
        out.push({ tie: "base-first", rule: { aggregate: "knn", similarity: "cosine", neighbours, domainShare, ...(baseBias ? { baseBias } : {}) } });
      }
      // Domain shares from the linear domain model (RoutingRule.domainModel), for every query or
      // only for familiar ones (the rest keep their neighbours' domains).
      if (neighbours >= 32) {
        for (const familiarity of [undefined, 0.3, 0.35]) {
          const rule: RoutingRule = { aggregate: "knn", similarity: "cosine", neighbours, domainShare: 1, domainModel: "linear", ...(familiarity !== undefined ? { familiarity } : {}), ...(baseBias ? { baseBias } : {}) };
          out.push({ tie: "base-first", rule });
          // A smaller margin for the queries the domain model is trusted with (RoutingRule.familiarBaseBias).
          if (familiarity !== undefined && baseBias >= 0.08) {
            for (const familiarBaseBias of [0, 0.02, 0.05]) out.push({ tie: "base-first", rule: { ...rule, familiarBaseBias } });
          }
        }
      }
    }
  }
  return out;
}

/** Stage 2: soft settings and expert shares around the best hard ones (their aggregate, similarity, ties, margin and floor). */
export function softGrid(around: readonly RouterSetting[]): RouterSetting[] {
  const out: RouterSetting[] = [];
  for (const h of around) {
    for (const temperature of [0.01, 0.02, 0.05]) {
      for (const topM of [2, undefined]) out.push({ tie: h.tie, rule: { ...h.rule, temperature, ...(topM ? { topM } : {}) } });
    }
    // The routed experts' share of the mix (RoutingRule.expertShare), hard and top-2 soft. Each
    // setting here costs a retrieval per dev and test query, so the share has the one value the
    // experts' own dev sets favoured (each expert mixed with the base, routed perfectly: 0.9).
    out.push({ tie: h.tie, rule: { ...h.rule, expertShare: 0.9 } });
    for (const temperature of [0.01, 0.02, 0.05]) out.push({ tie: h.tie, rule: { ...h.rule, temperature, topM: 2, expertShare: 0.9 } });
  }
  return out;
}

export interface Selection {
  readonly results: readonly SettingResult[];
  readonly chosen: SettingResult;
  readonly chosenHard: SettingResult;
}

/** Scores the hard grid, then the soft grid around the two best hard settings; the best objective on dev wins. */
export function selectRouter(libs: Libraries, dev: readonly EvalSet[], test: readonly EvalSet[], onProgress?: (done: number, total: number) => void): Selection {
  const score = (s: RouterSetting): SettingResult => {
    const d = scoreSetting(libs, s, dev);
    return { setting: s, name: settingName(s), dev: d, test: scoreSetting(libs, s, test), objective: objective(d) };
  };
  const hard = [...hardGrid(), ...knnGrid()];
  const results: SettingResult[] = [];
  hard.forEach((s, i) => {
    results.push(score(s));
    onProgress?.(i + 1, hard.length);
  });
  const byObjective = (a: SettingResult, b: SettingResult): number => b.objective - a.objective;
  const bestHard = [...results].sort(byObjective);
  // Soft variants around the two best hard settings, and around the best knn one if it is not among them.
  const around = bestHard.slice(0, 2).map((r) => r.setting);
  const bestKnn = bestHard.find((r) => r.setting.rule.aggregate === "knn");
  if (bestKnn && !around.includes(bestKnn.setting)) around.push(bestKnn.setting);
  const soft = softGrid(around);
  soft.forEach((s, i) => {
    results.push(score(s));
    onProgress?.(hard.length + i + 1, hard.length + soft.length);
  });
  const chosen = [...results].sort(byObjective)[0]!;
  return { results, chosen, chosenHard: bestHard[0]! };
}

export { BASE };
