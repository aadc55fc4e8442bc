/**
 * The pilot embedding library (METHOD.md "Building the pilot library", paper Algorithm 1).
 * For each domain: score every candidate on each of its training queries (nDCG@10 against the
 * domain's corpus), label each query with its best candidate, group the domain's queries by
 * label, and make one pilot per group: the mean of the group's BASE query embeddings.
 *
 * The per-query labels (`PilotLabels`) are kept, not thrown away: they hold every candidate's
 * score, so an expert can later be added or removed by regrouping without re-scoring the old
 * candidates (incremental.ts), and they are the training set of the classifier baselines
 * (baselines.ts). The library is always a pure function of the labels (`libraryFromLabels`).
 *
 * Tie rule (`bestCandidate`): among candidates within TIE_EPS of the best score, prefer "base"
 * (the general model, and the cheapest: a pilot for an expert should mean the expert actually
 * helped), then the domain's own expert (the specialist the domain's data was meant for),
 * then the first in candidate order. Deterministic and independent of score noise below 1e-9.
 *
 * All-zero rule (`AllZeroRule`): a query on which every candidate scores 0 says nothing about
 * which expert helps. "skip" (default) keeps its label (best = null) but gives it no group, so
 * it moves no pilot; "keep" treats it as a full tie (-> "base" under the tie rule), which is
 * what the paper's code does (argmax of all zeros = first candidate). Skipped queries stay in
 * the labels so a later expert that does retrieve for them can claim them.
 */
import { RouterRetrieverError } from "../errors.js";
import type { Qrels } from "../data/beir.js";
import { ignoreIdenticalIdsFor } from "../evaluation/evaluate.js";
import type { VectorIndex } from "../vectors/store.js";
import { rng, shuffled } from "../util/random.js";
import { checkIndexModel, encodeCandidates, scoreVectors, type CandidateEncoder, type QueryText } from "./scores.js";
import { BASE, type Pilot, type PilotInstances, type PilotLibrary } from "./types.js";

/** Scores this close to the best count as tied (nDCG values from the same code tie exactly; this only absorbs rounding). */
export const TIE_EPS = 1e-9;

export type AllZeroRule = "skip" | "keep";

/**
 * Who wins a tie between candidates. "base-first" (default): the general model, so a pilot for
 * an expert means the expert really did better. "own-expert-first": the domain's own expert, so
 * its pilot represents the domain; with a strong base most queries tie, and the default leaves
 * experts only the few queries they strictly win (see results/experiment).
 */
export type TieRule = "base-first" | "own-expert-first";

/** A domain's corpus: what any candidate is scored against. */
export interface DomainCorpus {
  readonly name: string;
  /** The domain's corpus embedded by the frozen base. */
  readonly index: VectorIndex;
  readonly qrels: Qrels;
  /** BEIR's ignore_identical_ids; default ignoreIdenticalIdsFor(name). */
  readonly ignoreIdenticalIds?: boolean;
}

/** A domain as Algorithm 1 sees it: its corpus plus its training queries. */
export interface PilotDomain extends DomainCorpus {
  readonly queries: readonly QueryText[];
  /** The domain's own expert, if it has one (second in the tie rule). */
  readonly expert?: string;
}

export interface DomainInfo {
  readonly name: string;
  readonly expert?: string;
}

/** One training query's outcome in Algorithm 1. */
export interface PilotLabel {
  readonly domain: string;
  readonly queryId: string;
  readonly text: string;
  /** Best candidate, or null when every candidate scored 0 and the all-zero rule is "skip". */
  readonly best: string | null;
  /** Every candidate's nDCG@10 on this query. */
  readonly scores: Readonly<Record<string, number>>;
  /** The query's base embedding (length dims). */
  readonly vector: Float32Array;
}

export interface PilotLabels {
  readonly baseModelId: string;
  readonly dims: number;
  /** Candidate order (the tie rule's last resort and the library's expert order). */
  readonly candidates: readonly string[];
  readonly domains: readonly DomainInfo[];
  readonly allZero: AllZeroRule;
  /** How the training queries were sampled, for the record. */
  readonly sampling: { readonly maxQueriesPerDomain: number; readonly seed: number };
  readonly labels: readonly PilotLabel[];
}

/** Algorithm 1's argmax with the tie and all-zero rules stated in the module doc. */
export function bestCandidate(
  scores: Readonly<Record<string, number>>,
  candidates: readonly string[],
  ownExpert: string | undefined,
  allZero: AllZeroRule,
  tieRule: TieRule = "base-first",
): string | null {
  if (candidates.length === 0) throw new RouterRetrieverError("BAD_INPUT", "no candidates to choose from");
  let max = -Infinity;
  for (const c of candidates) {
    const s = scores[c];
    if (s === undefined || !Number.isFinite(s)) throw new RouterRetrieverError("BAD_INPUT", `no finite score for candidate "${c}"`);
    if (s > max) max = s;
  }
  if (max <= 0 && allZero === "skip") return null;
  for (const c of preferenceOrder(candidates, ownExpert, tieRule)) if (scores[c]! >= max - TIE_EPS) return c;
  throw new RouterRetrieverError("INTERNAL", "no candidate reached the maximum");
}

/** "base", then the domain's own expert, then candidate order (each only if a candidate). */
export function preferenceOrder(candidates: readonly string[], ownExpert?: string, tieRule: TieRule = "base-first"): string[] {
  const order: string[] = [];
  const own = ownExpert !== undefined && ownExpert !== BASE && candidates.includes(ownExpert) ? [ownExpert] : [];
  const base = candidates.includes(BASE) ? [BASE] : [];
  order.push(...(tieRule === "own-expert-first" ? [...own, ...base] : [...base, ...own]));
  for (const c of candidates) if (!order.includes(c)) order.push(c);
  return order;
}

/** Recomputes every label's best candidate from its stored scores (after candidates changed). */
export function relabel(labels: Omit<PilotLabels, "labels"> & { readonly labels: readonly Omit<PilotLabel, "best">[] }, tieRule: TieRule = "base-first"): PilotLabels {
  const own = new Map(labels.domains.map((d) => [d.name, d.expert]));
  return {
    ...labels,
    labels: labels.labels.map((l) => ({ ...l, best: bestCandidate(l.scores, labels.candidates, own.get(l.domain), labels.allZero, tieRule) })),
  };
}

/**
 * The pilots of a labelled query set: per domain (in `domains` order) and candidate (in
 * candidate order), the mean base embedding of the domain's queries labelled with it. Sums in
 * float64 in label order, so the same labels always give bit-identical pilots.
 */
export function libraryFromLabels(labels: PilotLabels): PilotLibrary {
  const d = labels.dims;
  const candidates = new Set(labels.candidates);
  const groups = new Map<string, PilotLabel[]>();
  for (const l of labels.labels) {
    if (l.vector.length !== d) throw new RouterRetrieverError("SHAPE_MISMATCH", `label ${l.domain}/${l.queryId}: vector length ${l.vector.length}, expected ${d}`);
    if (l.best === null) continue;
    if (!candidates.has(l.best)) throw new RouterRetrieverError("BAD_INPUT", `label ${l.domain}/${l.queryId}: best "${l.best}" is not a candidate`);
    const key = JSON.stringify([l.domain, l.best]);
    const g = groups.get(key);
    if (g) g.push(l);
    else groups.set(key, [l]);
  }
  const pilots: Pilot[] = [];
  const domains: string[] = [];
  for (const { name } of labels.domains) {
    for (const expert of labels.candidates) {
      const g = groups.get(JSON.stringify([name, expert]));
      if (!g) continue;
      const sum = new Float64Array(d);
      for (const l of g) for (let i = 0; i < d; i++) sum[i] += l.vector[i]!;
      const vector = new Float32Array(d);
      for (let i = 0; i < d; i++) vector[i] = sum[i]! / g.length;
      pilots.push({ expert, domain: name, vector, size: g.length });
      if (!domains.includes(name)) domains.push(name);
    }
  }
  return { baseModelId: labels.baseModelId, dims: d, experts: [...labels.candidates], domains, pilots, instances: instancesFromLabels(labels) };
}

/** Two instance sets as one (rows of `a` then `b`); a candidate one side never scored is NaN there. */
export function concatInstances(a: PilotInstances, b: PilotInstances, dims: number): PilotInstances {
  const n = a.count + b.count;
  const vectors = new Float32Array(n * dims);
  vectors.set(a.vectors, 0);
  vectors.set(b.vectors, a.count * dims);
  const scores = new Map<string, Float32Array>();
  for (const c of new Set([...a.scores.keys(), ...b.scores.keys()])) {
    const col = new Float32Array(n).fill(Number.NaN);
    const ca = a.scores.get(c);
    const cb = b.scores.get(c);
    if (ca) col.set(ca, 0);
    if (cb) col.set(cb, a.count);
    scores.set(c, col);
  }
  return { count: n, vectors, domains: [...a.domains, ...b.domains], scores };
}

/** The labels as the "knn" rule reads them (every labelled query, all-zero ones included: they say no candidate helps). */
export function instancesFromLabels(labels: PilotLabels): PilotInstances {
  const d = labels.dims;
  const n = labels.labels.length;
  const vectors = new Float32Array(n * d);
  const scores = new Map(labels.candidates.map((c) => [c, new Float32Array(n).fill(Number.NaN)]));
  labels.labels.forEach((l, j) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += l.vector[i]! * l.vector[i]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let i = 0; i < d; i++) vectors[j * d + i] = l.vector[i]! * inv;
    for (const [c, col] of scores) {
      const v = l.scores[c];
      if (v !== undefined && Number.isFinite(v)) col[j] = v;
    }
  });
  return { count: n, vectors, domains: labels.labels.map((l) => l.domain), scores };
}

/** Per domain, how many training queries each candidate won ("none" = skipped all-zero queries). */
export function groupCounts(labels: PilotLabels): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const { name } of labels.domains) out[name] = {};
  for (const l of labels.labels) {
    const row = (out[l.domain] ??= {});
    const k = l.best ?? "none";
    row[k] = (row[k] ?? 0) + 1;
  }
  return out;
}

export const DEFAULT_MAX_QUERIES_PER_DOMAIN = 500;

export interface BuildPilotLibraryOptions {
  readonly encoder: CandidateEncoder;
  readonly domains: readonly PilotDomain[];
  /** Default ["base", ...every expert the encoder has loaded] when it exposes `expertIds`. */
  readonly candidates?: readonly string[];
  /** Training queries scored per domain (seeded sample of those with a relevant doc); default 500. */
  readonly maxQueriesPerDomain?: number;
  readonly seed?: number;
  readonly allZero?: AllZeroRule;
  readonly batchSize?: number;
  readonly onProgress?: (p: { readonly candidate: string; readonly done: number; readonly total: number }) => void;
}

export interface BuiltPilotLibrary {
  readonly library: PilotLibrary;
  readonly labels: PilotLabels;
}

/**
 * Algorithm 1 end to end. All domains' sampled queries are encoded together, one encoder call
 * per candidate; the base vectors double as the pilots' inputs.
 */
export async function buildPilotLibrary(opts: BuildPilotLibraryOptions): Promise<BuiltPilotLibrary> {
  const { encoder, domains } = opts;
  const candidates = opts.candidates ?? defaultCandidates(encoder);
  checkCandidates(candidates);
  const names = new Set<string>();
  for (const dom of domains) {
    if (names.has(dom.name)) throw new RouterRetrieverError("BAD_INPUT", `domain "${dom.name}" is given twice`);
    names.add(dom.name);
    checkIndexModel(dom.index, encoder.spec.id);
  }
  const maxQ = opts.maxQueriesPerDomain ?? DEFAULT_MAX_QUERIES_PER_DOMAIN;
  if (!(Number.isInteger(maxQ) && maxQ > 0)) throw new RouterRetrieverError("BAD_INPUT", `maxQueriesPerDomain must be a positive integer, got ${maxQ}`);
  const seed = opts.seed ?? 0;
  const allZero = opts.allZero ?? "skip";

  const selected = domains.map((dom) => sampleQueries(dom, maxQ, seed));
  const all = selected.flat();
  const vectors = await encodeCandidates(
    encoder,
    all.map((q) => q.text),
    candidates.includes(BASE) ? candidates : [BASE, ...candidates],
    { batchSize: opts.batchSize, onProgress: opts.onProgress },
  );
  const dims = encoder.dims;
  const labels: Omit<PilotLabel, "best">[] = [];
  let offset = 0;
  domains.forEach((dom, i) => {
    const qs = selected[i]!;
    const slice = (v: Float32Array): Float32Array => v.subarray(offset * dims, (offset + qs.length) * dims);
    const table = scoreVectors({
      index: dom.index,
      queries: qs,
      qrels: dom.qrels,
      vectors: new Map(candidates.map((c) => [c, slice(vectors.get(c)!)])),
      ignoreIdenticalIds: dom.ignoreIdenticalIds ?? ignoreIdenticalIdsFor(dom.name),
    });
    const base = slice(vectors.get(BASE)!);
    qs.forEach((q, r) => {
      const scores: Record<string, number> = {};
      for (const c of candidates) scores[c] = table.get(c)!.get(q.id)!;
      labels.push({ domain: dom.name, queryId: q.id, text: q.text, scores, vector: base.slice(r * dims, (r + 1) * dims) });
    });
    offset += qs.length;
  });

  const labelled = relabel({
    baseModelId: encoder.spec.id,
    dims,
    candidates: [...candidates],
    domains: domains.map((d) => (d.expert !== undefined ? { name: d.name, expert: d.expert } : { name: d.name })),
    allZero,
    sampling: { maxQueriesPerDomain: maxQ, seed },
    labels,
  });
  return { library: libraryFromLabels(labelled), labels: labelled };
}

function defaultCandidates(encoder: CandidateEncoder): string[] {
  const ids = (encoder as CandidateEncoder & { readonly expertIds?: readonly string[] }).expertIds;
  if (ids === undefined) throw new RouterRetrieverError("BAD_INPUT", "buildPilotLibrary: pass `candidates` (this encoder does not list its experts)");
  return [BASE, ...ids];
}

export function checkCandidates(candidates: readonly string[]): void {
  if (candidates.length === 0) throw new RouterRetrieverError("BAD_INPUT", "no candidates");
  const seen = new Set<string>();
  for (const c of candidates) {
    if (typeof c !== "string" || c === "") throw new RouterRetrieverError("BAD_INPUT", `candidate id ${JSON.stringify(c)} is not a non-empty string`);
    if (seen.has(c)) throw new RouterRetrieverError("BAD_INPUT", `candidate "${c}" is listed twice`);
    seen.add(c);
  }
}

/**
 * The domain's queries that can be scored (a relevant doc in its qrels), capped by a seeded
 * sample and kept in input order. The same seed is used for every domain, so a domain's
 * sample does not depend on which other domains are built with it.
 */
function sampleQueries(dom: PilotDomain, maxQ: number, seed: number): QueryText[] {
  const seen = new Set<string>();
  const scorable = dom.queries.filter((q) => {
    if (seen.has(q.id)) throw new RouterRetrieverError("BAD_INPUT", `domain "${dom.name}": query id "${q.id}" appears twice`);
    seen.add(q.id);
    const j = dom.qrels.get(q.id);
    if (!j) return false;
    for (const g of j.values()) if (g >= 1) return true;
    return false;
  });
  if (scorable.length <= maxQ) return scorable;
  const keep = shuffled(scorable.map((_, i) => i), rng(seed)).slice(0, maxQ).sort((a, b) => a - b);
  return keep.map((i) => scorable[i]!);
}
