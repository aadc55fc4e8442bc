/**
 * Routing evidence: what an expert carries so that a router can route to it without scoring
 * anything (docs/routing-evidence.md). It is Algorithm 1's raw material for ONE domain, the
 * expert's own: a sample of the domain's training queries (pseudo-queries for a bare corpus),
 * each with its base embedding, its relevant documents, and every scored candidate's nDCG@10
 * against the domain's documents ("base" and the expert at least).
 *
 * Adding the expert to a router then adds this domain's pilots (a pure function of the
 * evidence: `evidenceLibrary`) next to the existing library, and re-scores nothing that
 * exists. The existing experts' scores on the new domain are optional: `scoreEvidenceCandidates`
 * adds them when asked (it needs the domain's documents as vectors); until then the domain's
 * queries choose between "base" and the new expert only. Removing the expert drops the whole
 * domain: the evidence is the expert's, so the library is exactly what it was before the add.
 */
import { readFileSync } from "node:fs";
import { RouterRetrieverError } from "../errors.js";
import type { Qrels } from "../data/beir.js";
import { sameModelId } from "../experts/peft.js";
import type { VectorIndex } from "../vectors/store.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { encodeF32, Reader } from "./persist.js";
import { buildPilotLibrary, concatInstances, libraryFromLabels, relabel, DEFAULT_MAX_QUERIES_PER_DOMAIN, type AllZeroRule, type PilotDomain, type PilotLabels, type TieRule } from "./pilots.js";
import { encodeCandidates, scoreVectors, type CandidateEncoder } from "./scores.js";
import { BASE, type PilotLibrary } from "./types.js";

export const ROUTING_EVIDENCE_FILE = "routing.json";
export const ROUTING_EVIDENCE_FORMAT = "routerretriever-routing-evidence";
export const ROUTING_EVIDENCE_VERSION = 1;

export interface EvidenceItem {
  readonly queryId: string;
  readonly text: string;
  /** The query's relevant documents in the domain (grade 1). */
  readonly docIds: readonly string[];
  /** nDCG@10 of every scored candidate against the domain's documents. */
  readonly scores: Readonly<Record<string, number>>;
  /** The query's base embedding (length dims). */
  readonly vector: Float32Array;
}

export interface RoutingEvidence {
  readonly baseModelId: string;
  readonly dims: number;
  /** The expert this evidence routes to (renamed to the folder name when added under another name). */
  readonly expert: string;
  /** The domain the queries and documents come from. */
  readonly domain: string;
  /** Candidates scored on every item: "base" and `expert` first, others only when asked for. */
  readonly candidates: readonly string[];
  /** Where the queries came from: "pseudo", "qrels" or "generated" (data/pairs.ts). */
  readonly querySource: string;
  /** The domain's documents the scores were computed against (search ran over exactly these). */
  readonly documentIds: readonly string[];
  readonly ignoreIdenticalIds: boolean;
  readonly allZero: AllZeroRule;
  readonly items: readonly EvidenceItem[];
}

export interface BuildRoutingEvidenceOptions {
  /** Must have `expert` loaded ("base" is always available). */
  readonly encoder: CandidateEncoder;
  readonly expert: string;
  /** The domain: its documents' base vectors, its (pseudo-)queries and their qrels. */
  readonly domain: Omit<PilotDomain, "expert">;
  readonly querySource: string;
  /** Queries kept (seeded sample), default 500 like the pilot library. */
  readonly maxQueries?: number;
  readonly seed?: number;
  readonly batchSize?: number;
  readonly onProgress?: (p: { readonly candidate: string; readonly done: number; readonly total: number }) => void;
}

/** Scores "base" and the expert on the domain's queries (Algorithm 1 restricted to one domain). */
export async function buildRoutingEvidence(o: BuildRoutingEvidenceOptions): Promise<RoutingEvidence> {
  checkExpertId(o.expert);
  // Only queries with a relevant document in the corpus: the others score 0 for every candidate.
  const inCorpus = o.domain.queries.filter((q) => relevant(o.domain.qrels, q.id).some((id) => o.domain.index.has(id)));
  const built = await buildPilotLibrary({
    encoder: o.encoder,
    domains: [{ ...o.domain, queries: inCorpus, expert: o.expert }],
    candidates: [BASE, o.expert],
    maxQueriesPerDomain: o.maxQueries ?? DEFAULT_MAX_QUERIES_PER_DOMAIN,
    seed: o.seed ?? 0,
    batchSize: o.batchSize,
    onProgress: o.onProgress,
  });
  const ignore = o.domain.ignoreIdenticalIds ?? false;
  return {
    baseModelId: built.labels.baseModelId,
    dims: built.labels.dims,
    expert: o.expert,
    domain: o.domain.name,
    candidates: [BASE, o.expert],
    querySource: o.querySource,
    documentIds: [...o.domain.index.ids],
    ignoreIdenticalIds: ignore,
    allZero: built.labels.allZero,
    items: built.labels.labels.map((l) => ({
      queryId: l.queryId,
      text: l.text,
      docIds: relevant(o.domain.qrels, l.queryId).filter((id) => o.domain.index.has(id)),
      scores: l.scores,
      vector: l.vector,
    })),
  };
}

/**
 * How the evidence breaks ties: "own-expert-first", the tie rule the default router was chosen
 * with (results/experiment/router-selection.json) and the shipped libraries are built with.
 * It matters more here than anywhere: a domain's pseudo-queries are mostly a document's own
 * title, which base and expert both rank first, so most of them tie, and under "base-first"
 * the expert's pilot would be the mean of the few queries it strictly wins instead of the
 * domain's (add-domain reports the split: "won by base N, <expert> M").
 */
export const EVIDENCE_TIE_RULE: TieRule = "own-expert-first";

/**
 * The evidence as pilot labels over the candidates `allowed` admits ("base" always; all scored
 * ones when omitted). The expert is the domain's own expert (first in the tie rule).
 */
export function evidenceLabels(ev: RoutingEvidence, allowed?: ReadonlySet<string>, tieRule: TieRule = EVIDENCE_TIE_RULE): PilotLabels {
  const candidates = ev.candidates.filter((c) => c === BASE || allowed === undefined || allowed.has(c));
  return relabel(
    {
      baseModelId: ev.baseModelId,
      dims: ev.dims,
      candidates,
      domains: [candidates.includes(ev.expert) ? { name: ev.domain, expert: ev.expert } : { name: ev.domain }],
      allZero: ev.allZero,
      sampling: { maxQueriesPerDomain: ev.items.length, seed: 0 },
      labels: ev.items.map((it) => ({ domain: ev.domain, queryId: it.queryId, text: it.text, scores: pick(it.scores, candidates), vector: it.vector })),
    },
    tieRule,
  );
}

/**
 * The domain's pilots: one per candidate that won some of its queries, once every admitted
 * candidate has been scored on them (`allowed` omitted: the scored ones). Until then only the
 * expert's own pilot: a group of "base" formed where only base and the expert competed is not
 * a group Algorithm 1 would form (other experts may beat base on some of those queries), and
 * it would give an existing candidate a pilot, moving its score for every query under the
 * "mean" aggregate (bench/new-domain-routes.ts counts the demo queries rerouted either way).
 * The expert's pilot is what the evidence is for: where the domain's own expert is at least as
 * good as the base.
 */
export function evidenceLibrary(ev: RoutingEvidence, allowed?: ReadonlySet<string>, tieRule: TieRule = EVIDENCE_TIE_RULE): PilotLibrary {
  const lib = libraryFromLabels(evidenceLabels(ev, allowed, tieRule));
  const complete = allowed === undefined || [...allowed].every((c) => c === BASE || ev.candidates.includes(c));
  if (complete) return lib;
  const pilots = lib.pilots.filter((p) => p.expert === ev.expert);
  return { ...lib, domains: pilots.length > 0 ? lib.domains : [], pilots };
}

/**
 * A library plus domain libraries made from evidence: pilots appended, experts and domains
 * unioned in order. Domains must not repeat (a domain's pilots come from one place only).
 */
export function mergeLibraries(base: PilotLibrary | undefined, extras: readonly PilotLibrary[]): PilotLibrary | undefined {
  let out = base;
  for (const x of extras) {
    if (out === undefined) {
      out = x;
      continue;
    }
    if (!sameModelId(out.baseModelId, x.baseModelId) || out.dims !== x.dims) {
      throw new RouterRetrieverError("MODEL_MISMATCH", `routing evidence for ${x.domains.join(", ")} is for ${x.baseModelId} (${x.dims} dims), the pilot library for ${out.baseModelId} (${out.dims} dims)`);
    }
    const clash = x.domains.find((d) => out!.domains.includes(d));
    if (clash !== undefined) throw new RouterRetrieverError("CONFLICT", `domain "${clash}" already has pilots in the library`);
    // A library without its labelled queries cannot be completed by one domain's: the knn rule then refuses it.
    const instances = out.instances && x.instances ? concatInstances(out.instances, x.instances, out.dims) : undefined;
    out = {
      baseModelId: out.baseModelId,
      dims: out.dims,
      experts: [...out.experts, ...x.experts.filter((e) => !out!.experts.includes(e))],
      domains: [...out.domains, ...x.domains],
      pilots: [...out.pilots, ...x.pilots],
      ...(instances ? { instances } : {}),
    };
  }
  return out;
}

/** The same evidence under another expert id (an expert folder's name is its id). */
export function renameEvidenceExpert(ev: RoutingEvidence, id: string): RoutingEvidence {
  if (id === ev.expert) return ev;
  checkExpertId(id);
  if (ev.candidates.includes(id)) throw new RouterRetrieverError("CONFLICT", `routing evidence already scores a candidate named "${id}"`);
  const ren = (c: string): string => (c === ev.expert ? id : c);
  return {
    ...ev,
    expert: id,
    candidates: ev.candidates.map(ren),
    items: ev.items.map((it) => ({ ...it, scores: Object.fromEntries(Object.entries(it.scores).map(([c, s]) => [ren(c), s])) })),
  };
}

export interface ScoreEvidenceCandidatesInput {
  readonly encoder: CandidateEncoder;
  readonly evidence: RoutingEvidence;
  /** Base vectors of exactly the evidence's documents (any order). */
  readonly index: VectorIndex;
  /** Candidates to add; ones already scored are skipped. */
  readonly candidates: readonly string[];
  readonly batchSize?: number;
}

/**
 * Adds other experts' nDCG@10 on the evidence's queries (one encoder call per new candidate,
 * search over the same documents the evidence was scored on), so that they can win some of
 * the new domain's queries and get pilots there too.
 */
export async function scoreEvidenceCandidates(input: ScoreEvidenceCandidatesInput): Promise<RoutingEvidence> {
  const { evidence: ev, index } = input;
  if (!sameModelId(index.manifest.modelId, ev.baseModelId)) {
    throw new RouterRetrieverError("MODEL_MISMATCH", `index holds vectors of "${index.manifest.modelId}", the evidence is for "${ev.baseModelId}"`);
  }
  const missing = ev.documentIds.filter((id) => !index.has(id));
  if (missing.length > 0 || index.size !== ev.documentIds.length) {
    throw new RouterRetrieverError(
      "NOT_FOUND",
      `the domain "${ev.domain}" was scored on ${ev.documentIds.length} documents; the index given has ${index.size}${missing.length > 0 ? ` and lacks ${missing.length} of them (e.g. "${missing[0]}")` : ""}`,
    );
  }
  const add = [...new Set(input.candidates)].filter((c) => !ev.candidates.includes(c));
  if (add.length === 0) return ev;
  const queries = ev.items.map((it) => ({ id: it.queryId, text: it.text }));
  const qrels: Qrels = new Map(ev.items.map((it) => [it.queryId, new Map(it.docIds.map((d) => [d, 1]))]));
  const vectors = await encodeCandidates(input.encoder, queries.map((q) => q.text), add, { batchSize: input.batchSize });
  const table = scoreVectors({ index, queries, qrels, vectors, ignoreIdenticalIds: ev.ignoreIdenticalIds });
  return {
    ...ev,
    candidates: [...ev.candidates, ...add],
    items: ev.items.map((it) => {
      const scores = { ...it.scores };
      for (const c of add) scores[c] = table.get(c)!.get(it.queryId)!;
      return { ...it, scores };
    }),
  };
}

export function saveRoutingEvidence(path: string, ev: RoutingEvidence): void {
  writeJsonAtomic(path, {
    format: ROUTING_EVIDENCE_FORMAT,
    version: ROUTING_EVIDENCE_VERSION,
    savedAt: new Date().toISOString(),
    baseModelId: ev.baseModelId,
    dims: ev.dims,
    expert: ev.expert,
    domain: ev.domain,
    candidates: ev.candidates,
    querySource: ev.querySource,
    ignoreIdenticalIds: ev.ignoreIdenticalIds,
    allZero: ev.allZero,
    documentIds: ev.documentIds,
    items: ev.items.map((it) => {
      if (it.vector.length !== ev.dims) throw new RouterRetrieverError("SHAPE_MISMATCH", `evidence item ${it.queryId}: ${it.vector.length} floats, expected ${ev.dims}`);
      return { queryId: it.queryId, text: it.text, docIds: it.docIds, scores: it.scores, vector: encodeF32(it.vector) };
    }),
  });
}

/**
 * Reads and validates a routing evidence file, as untrusted input: every field typed, scores
 * finite and within [0, 1] for every candidate, vectors of `dims` finite floats, ids unique,
 * and the base model the one queries will be embedded with (MODEL_MISMATCH otherwise).
 */
export function loadRoutingEvidence(path: string, baseModelId: string, dims?: number): RoutingEvidence {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === "ENOENT" ? "NOT_FOUND" : "PARSE_ERROR";
    throw new RouterRetrieverError(code, `${path}: ${(err as Error).message}`, { cause: err });
  }
  const r = new Reader(path);
  const doc = r.obj(raw, "");
  if (doc.format !== ROUTING_EVIDENCE_FORMAT) r.fail("format", `expected "${ROUTING_EVIDENCE_FORMAT}", got ${JSON.stringify(doc.format)}`);
  if (doc.version !== ROUTING_EVIDENCE_VERSION) throw new RouterRetrieverError("UNSUPPORTED", `${path}: version ${JSON.stringify(doc.version)} (this build reads version ${ROUTING_EVIDENCE_VERSION})`);
  const model = r.str(doc.baseModelId, "baseModelId");
  if (!sameModelId(model, baseModelId)) {
    throw new RouterRetrieverError("MODEL_MISMATCH", `${path}: routing evidence was made with base model "${model}", but the loaded base model is "${baseModelId}"`);
  }
  const d = r.int(doc.dims, "dims");
  if (d === 0) r.fail("dims", "must be positive");
  if (dims !== undefined && d !== dims) throw new RouterRetrieverError("SHAPE_MISMATCH", `${path}: dims ${d}, but the model embeds in ${dims}`);
  const expert = r.str(doc.expert, "expert");
  if (expert === "" || expert === BASE) r.fail("expert", `must name an expert, not ${JSON.stringify(expert)}`);
  const domain = r.str(doc.domain, "domain");
  if (domain === "") r.fail("domain", "must be non-empty");
  const candidates = unique(r, r.strs(doc.candidates, "candidates"), "candidates");
  if (!candidates.includes(BASE) || !candidates.includes(expert)) r.fail("candidates", `must include "${BASE}" and the expert "${expert}"`);
  if (typeof doc.ignoreIdenticalIds !== "boolean") r.fail("ignoreIdenticalIds", "expected true or false");
  if (doc.allZero !== "skip" && doc.allZero !== "keep") r.fail("allZero", `expected "skip" or "keep", got ${JSON.stringify(doc.allZero)}`);
  const documentIds = unique(r, r.strs(doc.documentIds, "documentIds"), "documentIds");
  const docSet = new Set(documentIds);
  const seen = new Set<string>();
  const items: EvidenceItem[] = r.arr(doc.items, "items").map((x, i) => {
    const at = `items[${i}]`;
    const o = r.obj(x, at);
    const queryId = r.str(o.queryId, `${at}.queryId`);
    if (seen.has(queryId)) r.fail(`${at}.queryId`, `"${queryId}" appears twice`);
    seen.add(queryId);
    const docIds = r.strs(o.docIds, `${at}.docIds`);
    if (docIds.length === 0) r.fail(`${at}.docIds`, "needs at least one relevant document");
    const stray = docIds.find((id) => !docSet.has(id));
    if (stray !== undefined) r.fail(`${at}.docIds`, `"${stray}" is not in documentIds`);
    const so = r.obj(o.scores, `${at}.scores`);
    const scores: Record<string, number> = {};
    for (const c of candidates) {
      const s = r.num(so[c], `${at}.scores.${c}`);
      if (s < 0 || s > 1) r.fail(`${at}.scores.${c}`, `nDCG@10 must be within [0, 1], got ${s}`);
      scores[c] = s;
    }
    const vector = r.vec(o.vector, d, `${at}.vector`);
    return { queryId, text: r.str(o.text, `${at}.text`), docIds, scores, vector };
  });
  if (items.length === 0) r.fail("items", "is empty: no query to make a pilot from");
  return {
    baseModelId: model,
    dims: d,
    expert,
    domain,
    candidates,
    querySource: r.str(doc.querySource, "querySource"),
    documentIds,
    ignoreIdenticalIds: doc.ignoreIdenticalIds as boolean,
    allZero: doc.allZero as AllZeroRule,
    items,
  };
}

function unique(r: Reader, xs: string[], field: string): string[] {
  const s = new Set<string>();
  for (const x of xs) {
    if (s.has(x)) r.fail(field, `"${x}" appears twice`);
    s.add(x);
  }
  return xs;
}

function relevant(qrels: Qrels, queryId: string): string[] {
  return [...(qrels.get(queryId) ?? new Map<string, number>())].filter(([, g]) => g >= 1).map(([id]) => id);
}

function pick(scores: Readonly<Record<string, number>>, keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = scores[k]!;
  return out;
}

function checkExpertId(id: string): void {
  if (id === "" || id === BASE) throw new RouterRetrieverError("BAD_INPUT", `cannot use ${JSON.stringify(id)} as an expert id`);
}
