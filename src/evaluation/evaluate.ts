/**
 * BEIR evaluation of one retrieval system on one dataset: corpus vectors from the base model
 * (cached), query vectors from whatever `encodeQueries` the system provides (base, an expert,
 * a router), exact top-k, then trec_eval-style metrics.
 */
import type { Encoder } from "../model/encoder.js";
import type { CacheProgress } from "../vectors/cache.js";
import { corpusVectors } from "../vectors/encode-corpus.js";
import type { VectorIndex } from "../vectors/store.js";
import type { BeirDataset } from "../data/beir.js";
import { DEFAULT_KS, evaluateRun, type Evaluation, type ScoredDoc } from "./metrics.js";

/** Datasets whose queries are themselves corpus documents (METHOD.md; BEIR's ignore_identical_ids). */
const SELF_RETRIEVING = new Set(["arguana", "quora"]);

export function ignoreIdenticalIdsFor(datasetName: string): boolean {
  return SELF_RETRIEVING.has(datasetName.toLowerCase());
}

export type QueryEncoder = (texts: readonly string[], queryIds: readonly string[]) => Promise<Float32Array>;

export interface EvaluateDatasetOptions {
  readonly ks?: readonly number[];
  readonly cacheDir?: string;
  /** Defaults to the base encoder. */
  readonly encodeQueries?: QueryEncoder;
  readonly ignoreIdenticalIds?: boolean;
  readonly onCorpusProgress?: (p: CacheProgress) => void;
}

export interface DatasetEvaluation extends Evaluation {
  readonly dataset: string;
  readonly queries: number;
  readonly ignoreIdenticalIds: boolean;
}

/**
 * How deep a run goes before metrics are computed: BEIR's 1000, even for nDCG@10. Depth matters
 * when documents tie: trec_eval orders equal scores by doc id (descending), which can only pick
 * among the tied documents the run contains. CoSQA's 20,604 documents hold 6,267 distinct texts,
 * so a run cut at 10 changes its nDCG@10 by 5.6 points (27.4 instead of 33.0).
 */
export const RUN_DEPTH = 1000;

/** Ranked hits per query id, as a BEIR run (top max(ks)). */
export function retrieve(index: VectorIndex, queryIds: readonly string[], queryVectors: Float32Array, k: number, ignoreIdenticalIds: boolean): Map<string, ScoredDoc[]> {
  const hits = index.search(queryVectors, k, ignoreIdenticalIds ? { excludeIds: queryIds } : {});
  const run = new Map<string, ScoredDoc[]>();
  queryIds.forEach((qid, i) => run.set(qid, hits[i]!.map((h) => ({ id: h.id, score: h.score }))));
  return run;
}

export async function evaluateDataset(dataset: BeirDataset, encoder: Encoder, opts: EvaluateDatasetOptions = {}): Promise<DatasetEvaluation> {
  const ks = opts.ks ?? DEFAULT_KS;
  const { index } = await corpusVectors(encoder, dataset.corpus, { cacheDir: opts.cacheDir, onProgress: opts.onCorpusProgress });
  const ids = dataset.queries.map((q) => q.id);
  const texts = dataset.queries.map((q) => q.text);
  const qv = opts.encodeQueries ? await opts.encodeQueries(texts, ids) : await encoder.encode(texts);
  const ignore = opts.ignoreIdenticalIds ?? ignoreIdenticalIdsFor(dataset.name);
  const run = retrieve(index, ids, qv, Math.max(RUN_DEPTH, ...ks), ignore);
  const ev = evaluateRun(dataset.qrels, run, { ks, ignoreIdenticalIds: ignore });
  return { ...ev, dataset: dataset.name, queries: ev.perQuery.size, ignoreIdenticalIds: ignore };
}
