/**
 * Training data for an expert: (query, positive document) pairs from BEIR train qrels
 * (grade > 0), from argument -> counter-argument pairs of a corpus that carries its own
 * train/validation splits in its document ids (ArguAna), from a generated-queries file
 * (ArguAna's GenQ), or, for a domain with no queries at all, pseudo-queries cut from the
 * corpus itself (a document's title, else one of its sentences, stands in as a query for that
 * document).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { listQrelsSplits, loadCorpus, loadGeneratedQueries, loadQrels, loadQueries, qrelsPath, type Doc, type Qrels, type Query } from "./beir.js";
import { rng, shuffled } from "../util/random.js";

export interface TrainingPair {
  readonly queryId: string;
  readonly query: string;
  readonly docId: string;
}

export type TrainingSource = "qrels" | "counter-arguments" | "generated" | "pseudo";

export const TRAINING_SOURCES: readonly TrainingSource[] = ["qrels", "counter-arguments", "generated", "pseudo"];

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

/**
 * ArguAna's documents keep the original dataset's ids (Wachsmuth et al. 2018):
 * <split>-<topic>-<debate>-<pro|con><n><a|b>, where "a" is a point and "b" the counter-argument
 * written to answer it; BEIR's test queries are the test split's "a" documents and each one's
 * relevant document is its "b". The training and validation splits sit in the same corpus, so
 * they give real argument -> counter-argument pairs (the task's own query kind) with no test
 * document on either side.
 */
const ARGUMENT_ID = /^(training|validation|test)-(.+)-(pro|con)(\d+)a$/;

export type ArgumentSplit = "training" | "validation";

export function counterArgumentPairs(corpus: readonly Doc[], split: ArgumentSplit): TrainingPair[] {
  const byId = new Map(corpus.map((d) => [d.id, d]));
  const pairs: TrainingPair[] = [];
  for (const d of corpus) {
    const m = ARGUMENT_ID.exec(d.id);
    if (!m || m[1] !== split) continue;
    const counter = `${d.id.slice(0, -1)}b`;
    if (!byId.has(counter)) continue;
    // BEIR's ArguAna queries are the point's text alone (no title), as here.
    const query = d.text.trim();
    if (query) pairs.push({ queryId: d.id, query, docId: counter });
  }
  return pairs;
}

/** Enough pairs to call the corpus's own split a training set (a handful could be chance ids). */
const MIN_COUNTER_PAIRS = 50;

function hasGeneratedQueries(dir: string): boolean {
  return existsSync(join(dir, "generated-queries", "train.jsonl")) || existsSync(join(dir, "generated-queries", "train.jsonl.gz"));
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

/** What `train-expert` trains on, found from the dataset folder's contents (all of it: no dev hold-out). */
export async function loadTrainingPairs(
  dir: string,
  source: TrainingSource | "auto",
  seed: number,
): Promise<{ pairs: TrainingPair[]; source: TrainingSource; description: string; ignoreIdenticalIds: boolean }> {
  const { pairs, source: chosen, description, ignoreIdenticalIds } = await loadPairs(dir, source, seed);
  return { pairs, source: chosen, description, ignoreIdenticalIds };
}

/**
 * Training pairs and the dev set they are judged on, in one place so training and the
 * experiment split every domain the same way: the dataset's own dev split (qrels/dev.tsv, or
 * ArguAna's validation arguments) when it has one, else a held-out share of the training
 * queries. `ignoreIdenticalIds` is true when queries are corpus documents: a query's own
 * document is then neither retrieved for it nor one of its training negatives.
 */
export interface TrainingData {
  readonly pairs: TrainingPair[];
  readonly dev: DevSet;
  readonly source: TrainingSource;
  readonly description: string;
  readonly ignoreIdenticalIds: boolean;
}

export async function trainingData(
  dir: string,
  source: TrainingSource | "auto",
  seed: number,
  hold: { readonly devFraction?: number; readonly devMaxQueries?: number } = {},
): Promise<TrainingData> {
  const loaded = await loadPairs(dir, source, seed);
  const dev = loaded.ownDev ?? (await devFromSplit(dir));
  if (dev) return { pairs: loaded.pairs, dev, source: loaded.source, description: loaded.description, ignoreIdenticalIds: loaded.ignoreIdenticalIds };
  const held = holdOutDev(loaded.pairs, hold.devFraction ?? 0.1, hold.devMaxQueries ?? 200, seed);
  return { pairs: held.train, dev: { ...held.dev, ignoreIdenticalIds: loaded.ignoreIdenticalIds }, source: loaded.source, description: loaded.description, ignoreIdenticalIds: loaded.ignoreIdenticalIds };
}

async function loadPairs(
  dir: string,
  source: TrainingSource | "auto",
  seed: number,
): Promise<{ pairs: TrainingPair[]; source: TrainingSource; description: string; ignoreIdenticalIds: boolean; ownDev?: DevSet }> {
  const hasTrain = listQrelsSplits(dir).includes("train");
  const needsCorpus = source === "counter-arguments" || source === "pseudo" || (source === "auto" && !hasTrain);
  const corpus = needsCorpus ? await loadCorpus(dir) : undefined;
  const counter = corpus && source !== "pseudo" ? { training: counterArgumentPairs(corpus, "training"), validation: counterArgumentPairs(corpus, "validation") } : undefined;
  const hasCounter = counter !== undefined && counter.training.length >= MIN_COUNTER_PAIRS && counter.validation.length > 0;
  const chosen: TrainingSource = source !== "auto" ? source : hasTrain ? "qrels" : hasCounter ? "counter-arguments" : hasGeneratedQueries(dir) ? "generated" : "pseudo";
  if (chosen === "qrels") return { pairs: await pairsFromQrels(dir), source: chosen, description: `${dir}/qrels/train.tsv (grade > 0)`, ignoreIdenticalIds: false };
  if (chosen === "counter-arguments") {
    const pairs = counter!.training;
    if (pairs.length === 0) {
      throw new RouterRetrieverError("BAD_INPUT", `${dir}/corpus.jsonl: no training-...-<pro|con><n>a document has its ...b counter-argument in the corpus (--source counter-arguments)`);
    }
    const devPairs = counter!.validation;
    const ownDev = devPairs.length > 0 ? { ...devSetFromPairs(devPairs), description: `${devPairs.length} validation-split arguments`, ignoreIdenticalIds: true } : undefined;
    return { pairs, source: chosen, description: `${dir}/corpus.jsonl: ${pairs.length} training-split argument -> counter-argument pairs`, ignoreIdenticalIds: true, ownDev };
  }
  if (chosen === "generated") return { pairs: await pairsFromGenerated(dir), source: chosen, description: `${dir}/generated-queries/train.jsonl`, ignoreIdenticalIds: false };
  return { pairs: pseudoQueryPairs(corpus!, seed), source: chosen, description: `pseudo-queries (title or a sentence) from ${dir}/corpus.jsonl`, ignoreIdenticalIds: false };
}

/** Distinct queries (in first-seen order) and grade-1 qrels from training pairs (one pair per positive document). */
export function queriesFromPairs(pairs: readonly TrainingPair[]): { queries: Query[]; qrels: Qrels } {
  const queries: Query[] = [];
  const qrels: Qrels = new Map();
  for (const p of pairs) {
    let judged = qrels.get(p.queryId);
    if (!judged) {
      judged = new Map();
      qrels.set(p.queryId, judged);
      queries.push({ id: p.queryId, text: p.query });
    }
    judged.set(p.docId, 1);
  }
  return { queries, qrels };
}

function devSetFromPairs(pairs: readonly TrainingPair[]): { queries: Map<string, string>; qrels: Qrels } {
  const { queries, qrels } = queriesFromPairs(pairs);
  return { queries: new Map(queries.map((q) => [q.id, q.text])), qrels };
}

export interface DevSet {
  readonly queries: ReadonlyMap<string, string>;
  readonly qrels: Qrels;
  readonly description: string;
  /** Queries are corpus documents: drop a query's own id from its results (BEIR's ignore_identical_ids). */
  readonly ignoreIdenticalIds?: boolean;
}

/** Holds out whole queries (never a query's pair in both halves), `fraction` of them, capped. */
export function holdOutDev(pairs: readonly TrainingPair[], fraction: number, maxQueries: number, seed: number): { train: TrainingPair[]; dev: DevSet } {
  const qids = shuffled([...new Set(pairs.map((p) => p.queryId))], rng(seed));
  const nDev = Math.min(maxQueries, Math.max(1, Math.round(qids.length * fraction)));
  const devIds = new Set(qids.slice(0, nDev));
  const train = pairs.filter((p) => !devIds.has(p.queryId));
  const { queries, qrels } = devSetFromPairs(pairs.filter((p) => devIds.has(p.queryId)));
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
