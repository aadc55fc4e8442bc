/**
 * The trainer's data preparation: per domain, the (query, document) pairs minus the dev
 * hold-out, the dev set, the frozen base's cached document vectors and which documents share a
 * text; Multi-Task balancing; and the whole-corpus softmax's fixed inputs.
 */
import { RouterRetrieverError } from "../errors.js";
import { documentText, loadCorpus } from "../data/beir.js";
import { trainingData, type DevSet, type TrainingPair, type TrainingSource } from "../data/pairs.js";
import type { Encoder } from "../model/encoder.js";
import { rng, shuffled } from "../util/random.js";
import { corpusVectors } from "../vectors/encode-corpus.js";
import type { VectorIndex } from "../vectors/store.js";

/** What data preparation needs from the trainer's options. */
export interface DataOptions {
  readonly source?: TrainingSource | "auto";
  readonly maxPairs?: number;
  readonly devFraction?: number;
  readonly devMaxQueries?: number;
  readonly cacheDir?: string;
}

export type Emit = (e: { readonly kind: "setup"; readonly message: string } | { readonly kind: "corpus"; readonly done: number; readonly total: number }) => void;

export interface Domain {
  readonly dir: string;
  pairs: TrainingPair[];
  readonly dev: DevSet;
  readonly index: VectorIndex;
  /** Documents whose text is identical to another document's: id -> the ids sharing its text. */
  readonly twins: ReadonlyMap<string, readonly string[]>;
  readonly description: string;
  readonly source: TrainingSource;
  /** Queries are corpus documents (ArguAna's arguments): a query's own document is never its negative. */
  readonly ignoreIdenticalIds: boolean;
}

export type DomainPair = TrainingPair & { readonly domain: number };

export function queryKey(p: DomainPair): string {
  return `${p.domain}:${p.queryId}`;
}

/** One domain's pairs (minus the dev hold-out), its dev set, and its cached corpus vectors. */
export async function prepareDomain(dir: string, baseEncoder: Encoder, o: DataOptions, seed: number, emit: Emit): Promise<Domain> {
  emit({ kind: "setup", message: `loading ${dir}` });
  const corpus = await loadCorpus(dir);
  const loaded = await trainingData(dir, o.source ?? "auto", seed, { devFraction: o.devFraction, devMaxQueries: o.devMaxQueries });
  let pairs = loaded.pairs;
  const dev = loaded.dev;
  if (o.maxPairs !== undefined && pairs.length > o.maxPairs) pairs = shuffled(pairs, rng(seed + 17)).slice(0, o.maxPairs);
  const index = (
    await corpusVectors(baseEncoder, corpus.map((d) => ({ id: d.id, text: documentText(d) })), {
      cacheDir: o.cacheDir,
      onProgress: (p) => emit({ kind: "corpus", done: p.done, total: p.total }),
    })
  ).index;
  const missing = pairs.filter((p) => !index.has(p.docId)).length;
  if (missing > 0) emit({ kind: "setup", message: `${dir}: dropped ${missing} pairs whose document is not in the corpus` });
  const byText = new Map<string, string[]>();
  for (const d of corpus) {
    const t = documentText(d);
    const ids = byText.get(t);
    if (ids) ids.push(d.id);
    else byText.set(t, [d.id]);
  }
  const twins = new Map<string, string[]>();
  for (const ids of byText.values()) if (ids.length > 1) for (const id of ids) twins.set(id, ids);
  if (twins.size > 0) emit({ kind: "setup", message: `${dir}: ${twins.size} of ${corpus.length} documents share their text with another; a positive's twins are never its negatives` });
  return { dir, pairs: pairs.filter((p) => index.has(p.docId)), dev, index, twins, description: loaded.description, source: loaded.source, ignoreIdenticalIds: loaded.ignoreIdenticalIds };
}

/** The whole-corpus softmax's fixed inputs: every domain's vectors as one matrix, and per row what to mask. */
export interface CorpusNegatives {
  readonly vectors: Float32Array;
  readonly docs: number;
  /** domain:docId -> row of `vectors`. */
  readonly row: ReadonlyMap<string, number>;
  /** query key -> rows that must not be a negative for any of its pairs: all its positives and their twins. */
  readonly positives: ReadonlyMap<string, readonly number[]>;
}

export function corpusNegatives(domains: readonly Domain[], pairs: readonly DomainPair[]): CorpusNegatives {
  const dims = domains[0]!.index.dims;
  const docs = domains.reduce((n, d) => n + d.index.size, 0);
  const vectors = new Float32Array(docs * dims);
  const row = new Map<string, number>();
  let off = 0;
  domains.forEach((d, di) => {
    vectors.set(d.index.vectors.subarray(0, d.index.size * dims), off * dims);
    d.index.ids.forEach((id, i) => row.set(`${di}:${id}`, off + i));
    off += d.index.size;
  });
  const positives = new Map<string, Set<number>>();
  for (const p of pairs) {
    const key = queryKey(p);
    let set = positives.get(key);
    if (!set) positives.set(key, (set = new Set()));
    const domain = domains[p.domain]!;
    for (const id of domain.twins.get(p.docId) ?? [p.docId]) set.add(row.get(`${p.domain}:${id}`)!);
    // An argument's own text is in the corpus: as a negative it would teach the expert to move
    // queries away from their own wording (evaluation drops it, BEIR's ignore_identical_ids).
    const self = domain.ignoreIdenticalIds ? row.get(`${p.domain}:${p.queryId}`) : undefined;
    if (self !== undefined) set.add(self);
  }
  return { vectors, docs, row, positives: new Map([...positives].map(([k, v]) => [k, [...v]])) };
}

/**
 * Multi-Task (METHOD.md): with `balance`, every domain's pairs down-sampled to the smallest
 * domain's count; then all pairs, tagged with their domain.
 */
export function allPairs(domains: Domain[], balance: boolean, seed: number, emit: Emit, what: string): DomainPair[] {
  if (balance && domains.length > 1) {
    const smallest = Math.min(...domains.map((d) => d.pairs.length));
    for (const d of domains) d.pairs = shuffled(d.pairs, rng(seed + 29)).slice(0, smallest);
    emit({ kind: "setup", message: `balanced: ${smallest} pairs from each of ${domains.length} domains` });
  }
  const pairs: DomainPair[] = domains.flatMap((d, di) => d.pairs.map((p) => ({ ...p, domain: di })));
  if (pairs.length < 2) throw new RouterRetrieverError("BAD_INPUT", `${what}: fewer than 2 training pairs whose document is in the corpus`);
  return pairs;
}
