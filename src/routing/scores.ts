/**
 * Per-query nDCG@10 of every routing candidate ("base" and each expert) on one query set
 * against one corpus index. This table is the raw material of Algorithm 1 (training queries:
 * which expert is best for each query) and of the oracles and router evaluations (test
 * queries: a router that picks candidate c for query q scores table[c][q], so routed results
 * never need a second retrieval).
 *
 * Split in two steps so callers can reuse vectors: `encodeCandidates` (one encoder call per
 * candidate over all texts, batched by the encoder) and `scoreVectors` (exact search +
 * trec_eval nDCG@10). `scoreCandidates` chains them.
 */
import { RouterRetrieverError } from "../errors.js";
import type { Qrels } from "../data/beir.js";
import { retrieve, RUN_DEPTH } from "../evaluation/evaluate.js";
import { evaluateRun } from "../evaluation/metrics.js";
import { sameModelId } from "../experts/peft.js";
import type { EncodeOptions } from "../model/encoder.js";
import type { VectorIndex } from "../vectors/store.js";
import type { CandidateScores } from "./types.js";

/** The metric Algorithm 1 and the paper's Table 1 use. */
export const NDCG_CUTOFF = 10;
const METRIC = `ndcg@${NDCG_CUTOFF}`;
/** Queries retrieved and evaluated at a time (bounds a run's memory). */
const SCORE_CHUNK = 512;

export interface QueryText {
  readonly id: string;
  readonly text: string;
}

/**
 * The slice of ExpertEncoder the routing code needs. ExpertEncoder satisfies it as is; tests
 * and tools may wrap one (e.g. to count calls) without touching the encoder itself.
 */
export interface CandidateEncoder {
  readonly spec: { readonly id: string };
  readonly dims: number;
  encode(texts: readonly string[], expertId: string, opts?: EncodeOptions): Promise<Float32Array>;
}

export interface EncodeCandidatesOptions {
  readonly batchSize?: number;
  /** Vectors already computed for some candidates (rows in `texts` order): reused, not re-encoded. */
  readonly reuse?: ReadonlyMap<string, Float32Array>;
  readonly onProgress?: (p: { readonly candidate: string; readonly done: number; readonly total: number }) => void;
}

/** One encoder call per candidate, all texts at once (the encoder batches them by length). */
export async function encodeCandidates(
  encoder: CandidateEncoder,
  texts: readonly string[],
  candidates: readonly string[],
  opts: EncodeCandidatesOptions = {},
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const c of candidates) {
    if (out.has(c)) continue;
    const reused = opts.reuse?.get(c);
    if (reused !== undefined) {
      if (reused.length !== texts.length * encoder.dims) {
        throw new RouterRetrieverError("SHAPE_MISMATCH", `reused vectors for "${c}" have ${reused.length} floats, expected ${texts.length} x ${encoder.dims}`);
      }
      out.set(c, reused);
      continue;
    }
    const onProgress = opts.onProgress;
    out.set(
      c,
      await encoder.encode(texts, c, {
        batchSize: opts.batchSize,
        onProgress: onProgress ? (p) => onProgress({ candidate: c, done: p.done, total: p.total }) : undefined,
      }),
    );
  }
  return out;
}

export interface ScoreVectorsInput {
  readonly index: VectorIndex;
  readonly queries: readonly QueryText[];
  readonly qrels: Qrels;
  /** Candidate -> query vectors, rows in `queries` order. Map order = output order. */
  readonly vectors: ReadonlyMap<string, Float32Array>;
  /** BEIR's ignore_identical_ids (ArguAna, Quora); required so it is never forgotten. */
  readonly ignoreIdenticalIds: boolean;
}

/**
 * nDCG@10 per query per candidate. Queries without a relevant document in `qrels` are left
 * out (their nDCG is 0/0); qrels entries for queries not in `queries` are ignored.
 */
export function scoreVectors(input: ScoreVectorsInput): Map<string, Map<string, number>> {
  const { index, queries } = input;
  const ids = queries.map((q) => q.id);
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new RouterRetrieverError("BAD_INPUT", `query id "${id}" appears twice`);
    seen.add(id);
  }
  // Restrict qrels to the given queries: evaluateRun would otherwise score every other judged
  // query as a miss (0) and put it in the table.
  const qrels: Qrels = new Map();
  for (const id of ids) {
    const j = input.qrels.get(id);
    if (j !== undefined) qrels.set(id, j);
  }
  const out = new Map<string, Map<string, number>>();
  for (const [candidate, vecs] of input.vectors) {
    if (vecs.length !== ids.length * index.dims) {
      throw new RouterRetrieverError("SHAPE_MISMATCH", `vectors for "${candidate}" have ${vecs.length} floats, expected ${ids.length} x ${index.dims}`);
    }
    // In chunks: a run holds RUN_DEPTH scored documents per query, and Algorithm 1 scores tens of
    // thousands of training queries per candidate (all of them at once exhausted a 4 GB heap).
    const perQuery = new Map<string, number>();
    for (let start = 0; start < ids.length; start += SCORE_CHUNK) {
      const chunk = ids.slice(start, start + SCORE_CHUNK);
      const run = retrieve(index, chunk, vecs.subarray(start * index.dims, (start + chunk.length) * index.dims), RUN_DEPTH, input.ignoreIdenticalIds);
      const chunkQrels: Qrels = new Map();
      for (const id of chunk) {
        const j = qrels.get(id);
        if (j !== undefined) chunkQrels.set(id, j);
      }
      const ev = evaluateRun(chunkQrels, run, { ks: [NDCG_CUTOFF], ignoreIdenticalIds: input.ignoreIdenticalIds });
      for (const [qid, m] of ev.perQuery) perQuery.set(qid, m[METRIC]!);
    }
    out.set(candidate, perQuery);
  }
  return out;
}

export interface ScoreCandidatesInput extends Omit<ScoreVectorsInput, "vectors">, EncodeCandidatesOptions {
  readonly encoder: CandidateEncoder;
  readonly candidates: readonly string[];
}

/** Encodes `queries` with every candidate (one call each) and scores them: candidate -> queryId -> nDCG@10. */
export async function scoreCandidates(input: ScoreCandidatesInput): Promise<CandidateScores> {
  checkIndexModel(input.index, input.encoder.spec.id);
  const texts = input.queries.map((q) => q.text);
  const vectors = await encodeCandidates(input.encoder, texts, input.candidates, input);
  return scoreVectors({ ...input, vectors });
}

/**
 * The index's documents must be the same base model's vectors as the queries: a mismatch
 * would still "work" and quietly produce meaningless scores.
 */
export function checkIndexModel(index: VectorIndex, modelId: string): void {
  const indexModel = index.manifest.modelId;
  if (!sameModelId(indexModel, modelId)) {
    throw new RouterRetrieverError("MODEL_MISMATCH", `index ${index.dir} holds vectors of "${indexModel}", but queries are encoded with "${modelId}"`);
  }
}
