/**
 * The router's vocabulary (METHOD.md, "Building the pilot library" and "Routing a query").
 * A pilot is the mean base embedding of one domain's training queries whose best expert is
 * the pilot's expert; routing compares a query's base embedding with every pilot.
 */

/** The candidate that means "no LoRA" (defined with the experts): always allowed, never an expert folder. */
export { BASE } from "../experts/types.js";

export interface Pilot {
  /** The expert this pilot votes for ("base" allowed). */
  readonly expert: string;
  /** The domain (dataset) whose training queries formed the pilot. */
  readonly domain: string;
  /** Mean of the group's base query embeddings (k-means with k = 1), length = dims. */
  readonly vector: Float32Array;
  /** How many training queries the group had. */
  readonly size: number;
}

export interface PilotLibrary {
  readonly baseModelId: string;
  readonly dims: number;
  /** Candidate experts the library was built over, "base" included. */
  readonly experts: readonly string[];
  /** Domains that contributed pilots. */
  readonly domains: readonly string[];
  readonly pilots: readonly Pilot[];
  /**
   * The labelled training queries the pilots were averaged from, kept for the "knn" rule
   * (present when the library was derived from labels, e.g. a pilot file saved with them).
   */
  readonly instances?: PilotInstances;
}

/**
 * Algorithm 1's labelled queries as the "knn" rule reads them: unit-length base embeddings and
 * every candidate's nDCG@10 on each. A candidate added later has no score on older queries
 * (NaN): it is judged only where it was scored, so adding an expert cannot move the routes of
 * queries whose neighbourhood never saw it.
 */
export interface PilotInstances {
  readonly count: number;
  /** count x dims, each row unit length (row of a zero vector: zeros). */
  readonly vectors: Float32Array;
  /** Each row's domain. */
  readonly domains: readonly string[];
  /** candidate -> per-row nDCG@10 (NaN: not scored). */
  readonly scores: ReadonlyMap<string, Float32Array>;
}

/**
 * Each row's key of which candidates scored it ("1" at position c where cols[c] is present and not
 * NaN there): rows added later with a new expert's evidence carry a different key than the
 * library's own labelled queries.
 */
export function scoredKeys(inst: PilotInstances, cols: ReadonlyArray<Float32Array | undefined>): string[] {
  const keys = new Array<string>(inst.count);
  for (let j = 0; j < inst.count; j++) {
    let key = "";
    for (const col of cols) key += col !== undefined && !Number.isNaN(col[j]!) ? "1" : "0";
    keys[j] = key;
  }
  return keys;
}

/**
 * "mean": average similarity of each expert's pilots (the paper). "max": best single pilot
 * (reference code). "knn": each candidate's mean nDCG@10 over the query's `neighbours` nearest
 * labelled training queries (the pilots' own material, before averaging): an estimate of how
 * well each candidate does on queries like this one, rather than which group it resembles.
 */
export type Aggregate = "mean" | "max" | "knn";
export type Similarity = "dot" | "cosine";

export interface RoutingRule {
  readonly aggregate: Aggregate;
  readonly similarity: Similarity;
  /**
   * Soft routing: the query's weights are softmax(score / temperature) over the `topM`
   * best-scoring candidates ("base" among them: its weight is the share left to the base
   * model). Absent or 0: hard routing, one candidate with weight 1.
   */
  readonly temperature?: number;
  /** Soft routing: how many candidates share the weight (default: all). */
  readonly topM?: number;
  /** Added to "base"'s score before choosing or weighting: the margin an expert must beat (default 0). */
  readonly baseBias?: number;
  /**
   * Out-of-domain rule: when no candidate's score reaches this, the query stays with the base
   * (only meaningful with cosine similarity, whose scale does not depend on pilot norms). For
   * "knn" the test is on the mean cosine of the query's neighbours.
   */
  readonly minScore?: number;
  /** "knn": how many labelled training queries vote (default DEFAULT_NEIGHBOURS). */
  readonly neighbours?: number;
  /**
   * "knn": how much of each expert's estimated gain over the base comes from whole domains
   * rather than the neighbours themselves (0..1, default 0). The neighbours' domains are read
   * as the query's likely domain (their shares), and each domain's gain is the expert's mean
   * gain over all of that domain's labelled queries: a low-variance estimate (a DatasetRouter
   * built from the same labels) where a few neighbours' ties and wins are noisy.
   */
  readonly domainShare?: number;
  /**
   * "knn" with domainShare: where the query's domain shares come from. "neighbours" (default):
   * the domains of its nearest labelled queries. "linear": a linear discriminant fitted on the
   * labelled queries' domains (routing/domain-model.ts), which separates domains whose queries
   * share topics (a neighbourhood cannot).
   */
  readonly domainModel?: DomainModelKind;
  /**
   * "linear" domain model only: trust it for queries whose FAMILIARITY_NEIGHBOURS nearest labelled
   * queries have at least this mean cosine; a less familiar query (a domain the library may
   * never have seen, which a classifier would still assign to a known one) takes its
   * neighbours' domains. Absent: every query.
   */
  readonly familiarity?: number;
  /**
   * "linear" domain model only: the margin (in place of baseBias) for a query the domain model is
   * trusted with (familiar, see familiarity). The margin exists for queries from domains no expert
   * was built for; a familiar query's domain is one the library holds, whose experts' gains there
   * were measured, so it can need less. Absent: baseBias for every query.
   */
  readonly familiarBaseBias?: number;
  /**
   * The routed experts' share of the query's mix; the base model keeps the rest (weights become
   * expertShare x the decision's weights, plus 1 - expertShare on the base). A little of the base
   * steadies an expert on queries unlike its training set: on its own dev set each expert mixed
   * 0.9 with the base scored within 0.2 nDCG@10 points of the expert alone or above it
   * (bench/expert-share.ts), and the
   * share does not rest on the labelled gains' scale (training queries the experts learned from,
   * which overstate their gains by 2-4x and so set a soft mix's weights by the experts' overfit).
   * Absent: 1 (the decision's weights as they are).
   */
  readonly expertShare?: number;
}

export type DomainModelKind = "neighbours" | "linear";

/** How many nearest labelled queries measure a query's familiarity (RoutingRule.familiarity). */
export const FAMILIARITY_NEIGHBOURS = 16;

export const DEFAULT_NEIGHBOURS = 32;

export const PAPER_RULE: RoutingRule = { aggregate: "mean", similarity: "dot" };

/**
 * What the engine, the service and `search` route with unless told otherwise, chosen on dev
 * (splits carved from training queries, never test; results/experiment/router-selection.json):
 * each expert's gain over the base read from the query's likely domains (domainShare 1), which
 * the linear domain model gives for a query whose 16 nearest labelled training queries have a
 * mean cosine of at least 0.35, and the domains of its 128 nearest labelled queries otherwise;
 * a margin on the base's score of 0.02 for those familiar queries and 0.15 for the rest (which
 * may come from a domain no expert was built for); a soft mix of the top two (softmax over
 * score / 0.05). Of the settings the experiment's dev table put on top, this one has the best
 * dev objective averaged over the experiment's 9,300-query library (71.65; its own pick, the
 * familiar margin 0.05, 71.68) and the demo's 1,800-query library the service routes with
 * (71.56 vs 71.51): bench/router-library.ts, README "Table 1". It needs a pilot library saved
 * with its labels (demo/pilots.json is); without them CENTROID_RULE routes.
 */
export const DEFAULT_RULE: RoutingRule = { aggregate: "knn", similarity: "cosine", neighbours: 128, domainShare: 1, domainModel: "linear", familiarity: 0.35, temperature: 0.05, topM: 2, baseBias: 0.15, familiarBaseBias: 0.02 };

/**
 * The best centroid rule on dev for a library built with the default tie rule (base first):
 * what routes when the pilot library has no labelled queries for the knn rule.
 */
export const CENTROID_RULE: RoutingRule = { aggregate: "max", similarity: "cosine", minScore: 0.4 };

/** Why a query stayed with the base although experts had pilots. */
export type StayedWithBase = "out-of-domain";

/** One query's routing: the chosen expert and every candidate's score, so it can be explained. */
export interface RoutingDecision {
  /** The candidate with the largest weight. */
  readonly expert: string;
  readonly scores: Readonly<Record<string, number>>;
  /** Soft routing: candidate -> weight (sum 1; only candidates with weight > 0). Absent = { [expert]: 1 }. */
  readonly weights?: Readonly<Record<string, number>>;
  readonly stayedWithBase?: StayedWithBase;
  /** The margin the base's score was raised by for this query, when it differs from the rule's baseBias (familiarBaseBias). */
  readonly margin?: number;
}

/** Whether a rule's decisions can mix candidates (soft weights or an expert share below 1): those are scored by retrieving with the mix, not looked up per candidate. */
export function mixesCandidates(rule: RoutingRule): boolean {
  return (rule.temperature ?? 0) > 0 || (rule.expertShare !== undefined && rule.expertShare < 1);
}

/** A decision's mix of candidates, hard decisions included. */
export function decisionWeights(d: RoutingDecision): Readonly<Record<string, number>> {
  return d.weights ?? { [d.expert]: 1 };
}

/**
 * Per-query nDCG@10 of every candidate on one query set: candidate -> queryId -> nDCG@10.
 * Only queries with at least one relevant document appear (METHOD.md: others are not evaluated).
 */
export type CandidateScores = ReadonlyMap<string, ReadonlyMap<string, number>>;

/**
 * What every router (RouterRetriever and the paper's baselines) looks like to the experiment
 * code: base query embeddings in (row-major, n rows), one decision per query out.
 */
export interface QueryRouter {
  readonly name: string;
  route(baseVectors: Float32Array, n: number): RoutingDecision[];
}
