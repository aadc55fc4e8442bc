/**
 * The routing evidence a freshly trained expert carries (routing/evidence.ts): its domain's
 * training queries (pseudo-queries for a bare corpus, exactly those `train-expert` generated:
 * same source, same seed), their base embeddings, and the nDCG@10 of "base" and of the expert
 * on each, searched over the domain's documents. Written beside the adapter as routing.json,
 * so a router can route to the expert without scoring anything.
 */
import { basename, join } from "node:path";
import { documentText, loadCorpus } from "../data/beir.js";
import { ignoreIdenticalIdsFor } from "../evaluation/evaluate.js";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import type { LoraExpert } from "../experts/types.js";
import { corpusVectors } from "../vectors/encode-corpus.js";
import type { VectorIndex } from "../vectors/store.js";
import { Encoder, type LoadedModel } from "../model/encoder.js";
import { buildRoutingEvidence, ROUTING_EVIDENCE_FILE, saveRoutingEvidence, type RoutingEvidence } from "../routing/evidence.js";
import { queriesFromPairs } from "../data/pairs.js";
import { loadTrainingPairs, type TrainingSource } from "../data/pairs.js";

export interface ExpertEvidenceOptions {
  /** The BEIR-layout folder the expert was trained on (corpus.jsonl, optional queries/qrels). */
  readonly datasetDir: string;
  /** Domain name (default: the folder's name). */
  readonly domain?: string;
  readonly source?: TrainingSource | "auto";
  /** The training seed: pseudo-queries are drawn with it, so these are the ones trained on. */
  readonly seed?: number;
  /** Queries kept (seeded sample), default 500. */
  readonly maxQueries?: number;
  readonly cacheDir?: string;
  readonly threads?: number;
  /** The domain's corpus vectors when the caller has them (else read through the cache). */
  readonly index?: VectorIndex;
  readonly onProgress?: (p: { readonly candidate: string; readonly done: number; readonly total: number }) => void;
}

export async function expertRoutingEvidence(model: LoadedModel, expert: LoraExpert, o: ExpertEvidenceOptions): Promise<RoutingEvidence> {
  const name = o.domain ?? basename(o.datasetDir.replace(/[\\/]+$/, ""));
  const seed = o.seed ?? 0;
  const { pairs, source, ignoreIdenticalIds } = await loadTrainingPairs(o.datasetDir, o.source ?? "auto", seed);
  let index = o.index;
  if (!index) {
    const base = await Encoder.create(model, { threads: o.threads });
    try {
      const corpus = await loadCorpus(o.datasetDir);
      index = (await corpusVectors(base, corpus.map((d) => ({ id: d.id, text: documentText(d) })), { cacheDir: o.cacheDir })).index;
    } finally {
      await base.close();
    }
  }
  const { queries, qrels } = queriesFromPairs(pairs);
  const enc = await ExpertEncoder.create(model, [expert], { threads: o.threads, targets: expert.config.targetModules });
  try {
    return await buildRoutingEvidence({
      encoder: enc,
      expert: expert.id,
      domain: { name, index, queries, qrels, ignoreIdenticalIds: ignoreIdenticalIds || ignoreIdenticalIdsFor(name) },
      querySource: source,
      maxQueries: o.maxQueries,
      seed,
      onProgress: o.onProgress,
    });
  } finally {
    await enc.close();
  }
}

/** Builds the evidence and writes it to <expertDir>/routing.json. */
export async function writeExpertRoutingEvidence(model: LoadedModel, expert: LoraExpert, expertDir: string, o: ExpertEvidenceOptions): Promise<RoutingEvidence> {
  const ev = await expertRoutingEvidence(model, expert, o);
  saveRoutingEvidence(join(expertDir, ROUTING_EVIDENCE_FILE), ev);
  return ev;
}
