/**
 * Training data for an expert: (query, positive document) pairs from BEIR train qrels
 * (grade > 0), from a generated-queries file (ArguAna's GenQ), or, for a domain with no
 * queries at all, pseudo-queries cut from the corpus itself (a document's title, else one of
 * its sentences, stands in as a query for that document).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { listQrelsSplits, loadCorpus, loadGeneratedQueries, loadQrels, loadQueries, qrelsPath, type Doc, type Qrels } from "./beir.js";
import { rng, shuffled } from "../util/random.js";

export interface TrainingPair {
  readonly queryId: string;
  readonly query: string;
  readonly docId: string;
}

export type TrainingSource = "qrels" | "generated" | "pseudo";

export async function pairsFromQrels(dir: string, split = "train"): Promise<TrainingPair[]> {
  const qrels = await loadQrels(dir, split);
  const queries = new Map((await loadQueries(dir)).map((q) => [q.id, q.text]));
  const pairs: TrainingPair[] = [];
  for (const [qid, docs] of qrels) {
    const text = queries.get(qid);
    if (text === undefined) throw new RouterRetrieverError("BAD_INPUT", `${qrelsPath(dir, split)}: query ${qid} is not in queries.jsonl`);
    for (const [docId, grade] of docs) if (grade > 0) pairs.push({ queryId: qid, query: text, docId });
  }
  return pairs;
}

export async function pairsFromGenerated(dir: string): Promise<TrainingPair[]> {
  return (await loadGeneratedQueries(dir)).map((p, i) => ({ queryId: `genq-${i}`, query: p.query, docId: p.docId }));
}

const MIN_WORDS = 4;

/** One pseudo-query per document: its title when it has one, else a random sentence of its text. */
export function pseudoQueryPairs(corpus: readonly Doc[], seed: number): TrainingPair[] {
  const rand = rng(seed);
  const pairs: TrainingPair[] = [];
  for (const d of corpus) {
    const title = d.title.trim();
    let query = title.split(/\s+/).length >= MIN_WORDS ? title : "";
    if (!query) {
      const sentences = d.text.split(/(?<=[.!?])\s+/).map((s) => s.trim()).filter((s) => s.split(/\s+/).length >= MIN_WORDS);
      if (sentences.length === 0) continue;
      query = sentences[Math.floor(rand() * sentences.length)]!;
      // A sentence is in its own document verbatim; dropping it from nothing else keeps this honest
      // only if the model cannot just match the exact words, so long sentences are cut to 32 words.
      query = query.split(/\s+/).slice(0, 32).join(" ");
    }
    pairs.push({ queryId: `pseudo-${d.id}`, query, docId: d.id });
  }
  return pairs;
}

/** What `train-expert` trains on, found from the dataset folder's contents. */
export async function loadTrainingPairs(dir: string, source: TrainingSource | "auto", seed: number): Promise<{ pairs: TrainingPair[]; source: TrainingSource; description: string }> {
  const hasTrain = listQrelsSplits(dir).includes("train");
  const hasGen = existsSync(join(dir, "generated-queries", "train.jsonl")) || existsSync(join(dir, "generated-queries", "train.jsonl.gz"));
  const chosen: TrainingSource = source !== "auto" ? source : hasTrain ? "qrels" : hasGen ? "generated" : "pseudo";
  if (chosen === "qrels") return { pairs: await pairsFromQrels(dir), source: chosen, description: `${dir}/qrels/train.tsv (grade > 0)` };
  if (chosen === "generated") return { pairs: await pairsFromGenerated(dir), source: chosen, description: `${dir}/generated-queries/train.jsonl` };
  return { pairs: pseudoQueryPairs(await loadCorpus(dir), seed), source: chosen, description: `pseudo-queries (title or a sentence) from ${dir}/corpus.jsonl` };
}

export interface DevSet {
  readonly queries: ReadonlyMap<string, string>;
  readonly qrels: Qrels;
  readonly description: string;
}

/** Holds out whole queries (never a query's pair in both halves), `fraction` of them, capped. */
export function holdOutDev(pairs: readonly TrainingPair[], fraction: number, maxQueries: number, seed: number): { train: TrainingPair[]; dev: DevSet } {
  const qids = shuffled([...new Set(pairs.map((p) => p.queryId))], rng(seed));
  const nDev = Math.min(maxQueries, Math.max(1, Math.round(qids.length * fraction)));
  const devIds = new Set(qids.slice(0, nDev));
  const queries = new Map<string, string>();
  const qrels: Qrels = new Map();
  const train: TrainingPair[] = [];
  for (const p of pairs) {
    if (!devIds.has(p.queryId)) {
      train.push(p);
      continue;
    }
    queries.set(p.queryId, p.query);
    if (!qrels.has(p.queryId)) qrels.set(p.queryId, new Map());
    qrels.get(p.queryId)!.set(p.docId, 1);
  }
  return { train, dev: { queries, qrels, description: `${nDev} held-out training queries` } };
}

/** A BEIR dev split, when the dataset has one (cosqa). */
export async function devFromSplit(dir: string, split = "dev"): Promise<DevSet | undefined> {
  if (!listQrelsSplits(dir).includes(split)) return undefined;
  const qrels = await loadQrels(dir, split);
  const all = new Map((await loadQueries(dir)).map((q) => [q.id, q.text]));
  const queries = new Map<string, string>();
  for (const qid of qrels.keys()) queries.set(qid, all.get(qid) ?? "");
  return { queries, qrels, description: `${dir}/qrels/${split}.tsv` };
}
