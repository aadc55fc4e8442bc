import { RouterRetrieverError } from "../errors.js";
import type { Qrels } from "../data/beir.js";

/**
 * Retrieval metrics with trec_eval semantics, as pytrec_eval computes them for BEIR's
 * EvaluateRetrieval.evaluate (measures ndcg_cut, map_cut, recall, P) plus recip_rank cut at k.
 *
 * Sources checked: usnistgov/trec_eval form_res_rels.c (ordering), m_ndcg_cut.c, m_map_cut.c,
 * m_recall.c, m_P.c, m_recip_rank.c; cvangysel/pytrec_eval src/pytrec_eval.cpp (which queries are
 * evaluated); beir-cellar/beir beir/retrieval/evaluation.py (ignore_identical_ids, averaging).
 */

export interface ScoredDoc {
  id: string;
  score: number;
}

/** One query's retrieved docs: docId -> score, or a list. Either way the order used is trec_eval's. */
export type QueryResults = ReadonlyMap<string, number> | readonly ScoredDoc[];

/** queryId -> that query's retrieved docs. */
export type Run = ReadonlyMap<string, QueryResults>;

/** BEIR's EvaluateRetrieval default k_values. */
export const DEFAULT_KS: readonly number[] = [1, 3, 5, 10, 100, 1000];

export interface EvaluateOptions {
  ks?: readonly number[];
  /**
   * Drop a retrieved doc whose id equals the query id before scoring (BEIR's
   * ignore_identical_ids). Required, not defaulted: BEIR defaults it to true, which is right for
   * ArguAna but wrong wherever query and doc ids share a namespace by accident (cranfield, cisi
   * and cacm number both from 1, and cisi has judged-relevant docs whose id equals the query's).
   */
  ignoreIdenticalIds: boolean;
  /**
   * A query that has relevant judgments but no entry in the run: "zero" (default) scores it 0
   * on every metric and counts it in the mean; "skip" leaves it out, which is what pytrec_eval
   * plus BEIR's `sum / len(scores)` does. The two agree whenever the run covers every judged
   * query, as a BEIR retriever's run does (it returns an entry, possibly empty, per query).
   */
  missingRunQueries?: "zero" | "skip";
}

export type MetricValues = Record<string, number>;

export interface Evaluation {
  /** Arithmetic mean over the evaluated queries, as a fraction in [0, 1], unrounded. */
  mean: MetricValues;
  /** Per evaluated query, in qrels order. */
  perQuery: Map<string, MetricValues>;
  /** Judged queries with no run entry (scored 0, or left out under missingRunQueries "skip"). */
  missingFromRun: string[];
  /** Qrels queries without any doc graded >= 1: never evaluated (their nDCG would be 0/0). */
  withoutRelevant: string[];
}

/** The metric keys produced for `ks`, in output order. */
export function metricNames(ks: readonly number[] = DEFAULT_KS): string[] {
  const names: string[] = [];
  for (const m of ["ndcg", "map", "recall", "precision", "mrr"]) for (const k of ks) names.push(`${m}@${k}`);
  return names;
}

/**
 * trec_eval's order (form_res_rels.c, comp_sim_docno): score descending, ties by docno
 * descending under strcmp. strcmp compares UTF-8 bytes, i.e. code points; JS `<` compares UTF-16
 * units, which disagree only between surrogates and U+E000..U+FFFF, fixed up below.
 */
export function compareTrecEval(a: ScoredDoc, b: ScoredDoc): number {
  if (a.score > b.score) return -1;
  if (a.score < b.score) return 1;
  return compareCodePoints(b.id, a.id);
}

function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : 1;
}

/**
 * The ranking trec_eval would score: the given order is ignored, only scores and ids count.
 * `excludeId` implements ignore_identical_ids. Duplicate ids and NaN scores are rejected, as
 * trec_eval rejects duplicates and NaN has no place in its comparison.
 */
export function rankTrecEval(results: QueryResults, queryId: string, excludeId?: string): ScoredDoc[] {
  const docs: ScoredDoc[] = [];
  if (Array.isArray(results)) {
    const seen = new Set<string>();
    for (const d of results as readonly ScoredDoc[]) {
      if (seen.has(d.id)) {
        throw new RouterRetrieverError("BAD_INPUT", `run: query ${queryId} lists doc ${d.id} twice`);
      }
      seen.add(d.id);
      if (d.id !== excludeId) docs.push({ id: d.id, score: d.score });
    }
  } else {
    for (const [id, score] of results as ReadonlyMap<string, number>) if (id !== excludeId) docs.push({ id, score });
  }
  for (const d of docs) {
    if (Number.isNaN(d.score)) {
      throw new RouterRetrieverError("BAD_INPUT", `run: query ${queryId}, doc ${d.id}: score is NaN`);
    }
  }
  return docs.sort(compareTrecEval);
}

/**
 * All metrics of one query. `judgments` is docId -> grade. A grade >= 1 is relevant (trec_eval's
 * default relevance_level 1) for MAP, recall, precision and MRR; nDCG uses the grade itself as
 * the gain, discounted by log2(rank + 1), against the ideal ordering of every judged doc graded
 * > 0, truncated at the same k. MAP@k divides by all relevant docs, not min(k, #relevant).
 */
export function evaluateQuery(
  judgments: ReadonlyMap<string, number>,
  ranked: readonly ScoredDoc[],
  ks: readonly number[] = DEFAULT_KS,
): MetricValues {
  const cuts = normaliseKs(ks);
  const idealGains: number[] = [];
  for (const g of judgments.values()) if (g > 0) idealGains.push(g);
  idealGains.sort((a, b) => b - a);
  const numRel = idealGains.filter((g) => g >= 1).length;

  const out: MetricValues = {};
  const maxK = cuts[cuts.length - 1];
  const n = Math.min(ranked.length, maxK);
  let dcg = 0;
  let idcg = 0;
  let relSoFar = 0;
  let apSum = 0;
  let firstRelRank = 0;
  let c = 0;
  const record = (k: number): void => {
    out[`ndcg@${k}`] = idcg > 0 ? dcg / idcg : 0;
    out[`map@${k}`] = numRel > 0 ? apSum / numRel : 0;
    out[`recall@${k}`] = numRel > 0 ? relSoFar / numRel : 0;
    out[`precision@${k}`] = relSoFar / k;
    out[`mrr@${k}`] = firstRelRank > 0 ? 1 / firstRelRank : 0;
  };
  for (let i = 0; i < maxK && c < cuts.length; i++) {
    const discount = Math.log2(i + 2);
    if (i < idealGains.length) idcg += idealGains[i] / discount;
    if (i < n) {
      const grade = judgments.get(ranked[i].id) ?? 0;
      if (grade > 0) dcg += grade / discount;
      if (grade >= 1) {
        relSoFar++;
        apSum += relSoFar / (i + 1);
        if (firstRelRank === 0) firstRelRank = i + 1;
      }
    } else if (i >= idealGains.length) {
      // Nothing left to accumulate on either side: every remaining cutoff gets the same values.
      break;
    }
    while (c < cuts.length && cuts[c] === i + 1) record(cuts[c++]);
  }
  while (c < cuts.length) record(cuts[c++]);
  return orderKeys(out, cuts);
}

/**
 * Scores a run against qrels. Evaluated queries: those in qrels with at least one doc graded
 * >= 1. Run queries absent from qrels are ignored (pytrec_eval skips them too). See
 * EvaluateOptions for the two BEIR-relevant switches.
 */
export function evaluateRun(qrels: Qrels, run: Run, options: EvaluateOptions): Evaluation {
  const ks = normaliseKs(options.ks ?? DEFAULT_KS);
  const missingMode = options.missingRunQueries ?? "zero";
  const perQuery = new Map<string, MetricValues>();
  const missingFromRun: string[] = [];
  const withoutRelevant: string[] = [];

  for (const [qid, judgments] of qrels) {
    let anyRelevant = false;
    for (const g of judgments.values()) if (g >= 1) anyRelevant = true;
    if (!anyRelevant) {
      withoutRelevant.push(qid);
      continue;
    }
    const results = run.get(qid);
    if (results === undefined) {
      missingFromRun.push(qid);
      if (missingMode === "skip") continue;
    }
    const ranked = results === undefined ? [] : rankTrecEval(results, qid, options.ignoreIdenticalIds ? qid : undefined);
    perQuery.set(qid, evaluateQuery(judgments, ranked, ks));
  }

  if (perQuery.size === 0) {
    throw new RouterRetrieverError(
      "BAD_INPUT",
      "evaluateRun: no query to evaluate (no qrels query has a relevant doc" +
        (missingMode === "skip" ? ", or none of those is in the run)" : ")"),
    );
  }
  const mean: MetricValues = {};
  for (const name of metricNames(ks)) {
    let sum = 0;
    for (const values of perQuery.values()) sum += values[name];
    mean[name] = sum / perQuery.size;
  }
  return { mean, perQuery, missingFromRun, withoutRelevant };
}

function normaliseKs(ks: readonly number[]): number[] {
  if (ks.length === 0) throw new RouterRetrieverError("BAD_INPUT", "metrics: ks must not be empty");
  for (const k of ks) {
    if (!Number.isSafeInteger(k) || k <= 0) {
      throw new RouterRetrieverError("BAD_INPUT", `metrics: cutoff ${k} is not a positive integer`);
    }
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

function orderKeys(values: MetricValues, ks: readonly number[]): MetricValues {
  const ordered: MetricValues = {};
  for (const name of metricNames(ks)) ordered[name] = values[name];
  return ordered;
}
