/**
 * The paper's bounds and the scoring of any router, all computed from one test dataset's
 * `scoreCandidates` table (candidate -> queryId -> nDCG@10), so nothing is retrieved twice:
 *  - datasetOracle (Best Individual): the one candidate with the best mean over the dataset.
 *  - instanceOracle: per query, the best candidate (upper bound of any one-expert router).
 *  - routedScore: what a router's decisions achieve (query q routed to c scores table[c][q]).
 * Every mean is over the table's queries (those with a relevant document). Ties go to "base",
 * then candidate order, as in Algorithm 1; they change which expert is named, never a score.
 */
import { RouterRetrieverError } from "../errors.js";
import { preferenceOrder } from "./pilots.js";
import type { CandidateScores, RoutingDecision } from "./types.js";

export interface DatasetOracleResult {
  /** The best single candidate for the dataset. */
  readonly expert: string;
  /** Its mean nDCG@10. */
  readonly ndcg: number;
  /** Every candidate's mean nDCG@10. */
  readonly means: Readonly<Record<string, number>>;
  readonly queries: number;
}

export interface InstanceOracleResult {
  readonly ndcg: number;
  readonly perQuery: ReadonlyMap<string, { readonly expert: string; readonly ndcg: number }>;
  /** How often each candidate was the best. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface RoutedScore {
  readonly ndcg: number;
  readonly perQuery: ReadonlyMap<string, number>;
  /** How often each candidate was chosen (over scored queries). */
  readonly counts: Readonly<Record<string, number>>;
}

/** Candidates (table order unless given) and the shared query ids; every candidate must score every query. */
function checkedTable(table: CandidateScores, candidates?: readonly string[]): { cands: string[]; queryIds: string[] } {
  const cands = [...(candidates ?? table.keys())];
  if (cands.length === 0) throw new RouterRetrieverError("BAD_INPUT", "no candidates in the score table");
  const first = table.get(cands[0]!);
  if (!first) throw new RouterRetrieverError("NOT_FOUND", `no scores for candidate "${cands[0]}"`);
  const queryIds = [...first.keys()];
  for (const c of cands) {
    const m = table.get(c);
    if (!m) throw new RouterRetrieverError("NOT_FOUND", `no scores for candidate "${c}"`);
    if (m.size !== queryIds.length || queryIds.some((q) => !m.has(q))) {
      throw new RouterRetrieverError("BAD_INPUT", `candidate "${c}" was scored on different queries than "${cands[0]}"`);
    }
  }
  if (queryIds.length === 0) throw new RouterRetrieverError("BAD_INPUT", "the score table has no queries");
  return { cands, queryIds };
}

export function datasetOracle(table: CandidateScores, candidates?: readonly string[]): DatasetOracleResult {
  const { cands, queryIds } = checkedTable(table, candidates);
  const means: Record<string, number> = {};
  for (const c of cands) means[c] = mean([...table.get(c)!.values()]);
  let best = preferenceOrder(cands)[0]!;
  for (const c of preferenceOrder(cands)) if (means[c]! > means[best]!) best = c;
  return { expert: best, ndcg: means[best]!, means, queries: queryIds.length };
}

export function instanceOracle(table: CandidateScores, candidates?: readonly string[]): InstanceOracleResult {
  const { cands, queryIds } = checkedTable(table, candidates);
  const order = preferenceOrder(cands);
  const perQuery = new Map<string, { expert: string; ndcg: number }>();
  const counts: Record<string, number> = Object.fromEntries(cands.map((c) => [c, 0]));
  for (const q of queryIds) {
    let best = order[0]!;
    for (const c of order) if (table.get(c)!.get(q)! > table.get(best)!.get(q)!) best = c;
    perQuery.set(q, { expert: best, ndcg: table.get(best)!.get(q)! });
    counts[best]!++;
  }
  return { ndcg: mean([...perQuery.values()].map((v) => v.ndcg)), perQuery, counts };
}

/**
 * The mean nDCG@10 of a router's decisions. `queryIds[i]` is the query of decision i (the
 * rows the router was given); every query in the table must be among them.
 */
export function routedScore(table: CandidateScores, queryIds: readonly string[], decisions: readonly (RoutingDecision | string)[]): RoutedScore {
  if (queryIds.length !== decisions.length) throw new RouterRetrieverError("SHAPE_MISMATCH", `${queryIds.length} query ids but ${decisions.length} decisions`);
  const { queryIds: scored } = checkedTable(table);
  const chosen = new Map<string, string>();
  queryIds.forEach((q, i) => {
    const d = decisions[i]!;
    chosen.set(q, typeof d === "string" ? d : d.expert);
  });
  const perQuery = new Map<string, number>();
  const counts: Record<string, number> = {};
  for (const q of scored) {
    const c = chosen.get(q);
    if (c === undefined) throw new RouterRetrieverError("NOT_FOUND", `no routing decision for scored query "${q}"`);
    const s = table.get(c)?.get(q);
    if (s === undefined) throw new RouterRetrieverError("NOT_FOUND", `query "${q}" was routed to "${c}", which the score table does not have`);
    perQuery.set(q, s);
    counts[c] = (counts[c] ?? 0) + 1;
  }
  return { ndcg: mean([...perQuery.values()]), perQuery, counts };
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length > 0 ? s / xs.length : 0;
}
