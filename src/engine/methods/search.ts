/**
 * Search, as the paper runs it: two forward passes per query.
 *   1. all queries through the plain base model (one batch);
 *   2. route each by its base embedding against the pilot library;
 *   3. the queries routed to an expert through the stacked-expert session (one batch, each row
 *      with its own expert, or with its own weighted mix of experts' LoRA deltas when the rule
 *      is soft: still one pass); a query routed to "base" alone reuses its pass-1 embedding,
 *      which is exactly what a second base pass would compute;
 *   4. top-k over the store's document vectors (exact, or HNSW on PostgreSQL; documents are base embeddings).
 * Taking many queries at once is what lets the service's micro-batcher make one encoder call per
 * pass for all of them, and one top-k scan of the corpus.
 */
import { RouterRetrieverError } from "../../errors.js";
import { explainDecision } from "../../routing/explain.js";
import { route } from "../../routing/router.js";
import { BASE, CENTROID_RULE, decisionWeights, type PilotLibrary, type RoutingDecision, type RoutingRule } from "../../routing/types.js";
import { snippet } from "../components/snippet.js";
import type { EngineState } from "../state.js";
import type { SearchResult } from "../types.js";

/**
 * Whitespace, controls, format characters (zero-width space and joiners, BOM, bidi marks, soft
 * hyphen), lone combining marks and the blank "letters" (Hangul fillers, braille blank): a query
 * of only these tokenizes to nothing, and its "results" would be noise.
 */
const INVISIBLE = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{M}\u115F\u1160\u3164\uFFA0\u2800]*$/u;

export function hasVisibleText(s: string): boolean {
  return !INVISIBLE.test(s);
}

/** Padded tokens per ONNX run within a pass (see searchBatch). */
export const PASS_MAX_TOKENS = 512;

interface Decision extends RoutingDecision {
  readonly note?: string;
  /** The rule that made it (the engine's, or the centroid fallback). */
  readonly rule: RoutingRule;
}

export async function searchBatch(s: EngineState, queries: readonly string[], k: number): Promise<SearchResult[]> {
  if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
  queries.forEach((q, i) => {
    if (typeof q !== "string" || !hasVisibleText(q)) throw new RouterRetrieverError("BAD_INPUT", `query ${i} must be a string with at least one visible character`);
  });
  if (!Number.isInteger(k) || k <= 0) throw new RouterRetrieverError("BAD_INPUT", `k must be a positive integer, got ${String(k)}`);
  const n = queries.length;
  if (n === 0) return [];
  const d = s.base.dims;
  // One encoder call per pass over all queries; inside it the encoder sorts rows by length and
  // cuts runs at PASS_MAX_TOKENS padded tokens, so a long query does not pad every short one
  // to its length (which is what one run over the whole batch would cost).
  const one = { batchSize: n, maxTokens: PASS_MAX_TOKENS };

  const baseVecs = await s.base.encode(queries, one);
  // No await between reading the active experts and handing ids to the expert session, so an
  // expert removed concurrently cannot vanish between routing and encoding.
  const decisions = decide(s, baseVecs);
  // The base's share of a mix is the zero delta: only the experts' weights go to the encoder.
  const mixes = decisions.map((dec) => Object.fromEntries(Object.entries(decisionWeights(dec)).filter(([c, w]) => c !== BASE && w > 0)));
  const routed = decisions.flatMap((_, i) => (Object.keys(mixes[i]!).length === 0 ? [] : [i]));
  const pending = routed.length > 0 ? s.experts.encodeMixed(routed.map((i) => queries[i]!), routed.map((i) => mixes[i]!), one) : undefined;

  const vecs = baseVecs;
  if (pending) {
    const ev = await pending;
    routed.forEach((row, j) => vecs.set(ev.subarray(j * d, (j + 1) * d), row * d));
  }
  const hits = await s.store.search(vecs, k);
  return decisions.map((dec, i) => ({
    expert: dec.expert,
    weights: { ...decisionWeights(dec) },
    explanation: explainDecision(dec, dec.rule),
    scores: dec.scores,
    ...(dec.note !== undefined ? { routingNote: dec.note } : {}),
    hits: hits[i]!.map((h) => ({ id: h.id, score: h.score, title: h.title, snippet: snippet(h.text, queries[i]!) })),
  }));
}

/**
 * The "knn" rule needs the library's labelled queries; a library saved without them (pilot
 * centroids only) routes with the best centroid rule instead, and says so.
 */
export function ruleFor(rule: RoutingRule, lib: PilotLibrary): { rule: RoutingRule; fallbackNote?: string } {
  if (rule.aggregate !== "knn" || lib.instances) return { rule };
  return { rule: CENTROID_RULE, fallbackNote: "the pilot library was saved without its labelled queries, so the centroid rule routes instead of knn" };
}

/**
 * Routing over the active experts. Scores are reported for every active candidate; one the
 * library has no pilot for is left out of `scores` (it cannot win) and named in the note.
 */
function decide(s: EngineState, baseVecs: Float32Array): Decision[] {
  const n = baseVecs.length / s.base.dims;
  const active = s.experts.expertIds;
  const lib = s.pilots.library(active);
  if (!lib) {
    const note = active.length > 0 ? "no pilot library is loaded, so every query uses the base model" : undefined;
    return Array.from({ length: n }, () => ({ expert: BASE, scores: {}, rule: s.rule, ...(note ? { note } : {}) }));
  }
  const allowed = new Set([BASE, ...active]);
  const { rule, fallbackNote } = ruleFor(s.rule, lib);
  const withPilots = new Set(lib.pilots.map((p) => p.expert));
  const unroutable = active.filter((e) => !withPilots.has(e));
  const notes = [fallbackNote, unroutable.length > 0 ? `no pilots yet for ${unroutable.join(", ")}: the router cannot choose ${unroutable.length === 1 ? "it" : "them"}` : undefined].filter((x) => x !== undefined);
  const note = notes.length > 0 ? notes.join("; ") : undefined;
  return route(lib, baseVecs, rule, allowed).map((dec) => {
    const scores: Record<string, number> = {};
    for (const [e, v] of Object.entries(dec.scores)) if (Number.isFinite(v)) scores[e] = v;
    return { ...dec, scores, rule, ...(note ? { note } : {}) };
  });
}
