/**
 * Routing a query by its base embedding (METHOD.md "Routing a query"): similarity to every
 * pilot (dot by default, cosine as an option), then per expert either the mean of its pilots'
 * similarities (the paper) or the best single pilot (the reference code's "max"), then the
 * argmax. Ties go to the expert listed first in the library (library order starts with
 * "base" when the library was built with it), so a decision never depends on float noise in
 * iteration order.
 */
import { RouterRetrieverError } from "../errors.js";
import { PAPER_RULE, BASE, type PilotLibrary, type QueryRouter, type RoutingDecision, type RoutingRule } from "./types.js";

/**
 * One decision per row of `baseVectors` (row-major, lib.dims wide). `scores` holds every
 * library expert that `allowed` admits (all when omitted); an expert with no pilot scores
 * -Infinity and is never chosen. If no admitted expert has a pilot, the query goes to "base"
 * when admitted (the general model is always servable), otherwise this throws.
 */
export function route(lib: PilotLibrary, baseVectors: Float32Array, rule: RoutingRule = PAPER_RULE, allowed?: ReadonlySet<string>): RoutingDecision[] {
  const d = lib.dims;
  if (baseVectors.length % d !== 0) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `route: ${baseVectors.length} floats is not a whole number of ${d}-dim vectors`);
  }
  if (rule.aggregate !== "mean" && rule.aggregate !== "max") throw new RouterRetrieverError("BAD_INPUT", `unknown aggregate "${String(rule.aggregate)}"`);
  if (rule.similarity !== "dot" && rule.similarity !== "cosine") throw new RouterRetrieverError("BAD_INPUT", `unknown similarity "${String(rule.similarity)}"`);
  checkSoftRule(rule);
  const experts = lib.experts.filter((e) => allowed === undefined || allowed.has(e));
  const slot = new Map(experts.map((e, i) => [e, i]));
  const pilots = lib.pilots.filter((p) => slot.has(p.expert));
  const withPilots = new Set(pilots.map((p) => p.expert));
  if (withPilots.size === 0 && allowed !== undefined && !allowed.has(BASE)) {
    throw new RouterRetrieverError("NOT_FOUND", `no pilot votes for any allowed expert (${experts.join(", ") || "none allowed"}), and "base" is not allowed`);
  }
  const cosine = rule.similarity === "cosine";
  const pilotNorm = pilots.map((p) => (cosine ? norm(p.vector, 0, d) : 1));
  const pilotSlot = pilots.map((p) => slot.get(p.expert)!);
  const n = baseVectors.length / d;
  const out: RoutingDecision[] = [];
  const acc = new Float64Array(experts.length);
  const count = new Int32Array(experts.length);
  for (let q = 0; q < n; q++) {
    const off = q * d;
    const qNorm = cosine ? norm(baseVectors, off, d) : 1;
    acc.fill(rule.aggregate === "max" ? -Infinity : 0);
    count.fill(0);
    pilots.forEach((p, j) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += baseVectors[off + i]! * p.vector[i]!;
      // A zero vector has no direction: its cosine is taken as 0 rather than NaN.
      if (cosine) s = qNorm > 0 && pilotNorm[j]! > 0 ? s / (qNorm * pilotNorm[j]!) : 0;
      const k = pilotSlot[j]!;
      acc[k] = rule.aggregate === "max" ? Math.max(acc[k]!, s) : acc[k]! + s;
      count[k]!++;
    });
    const scores: Record<string, number> = {};
    experts.forEach((e, k) => {
      scores[e] = count[k] === 0 ? -Infinity : rule.aggregate === "mean" ? acc[k]! / count[k]! : acc[k]!;
    });
    out.push(decideFromScores(experts, scores, rule));
  }
  return out;
}

function checkSoftRule(rule: RoutingRule): void {
  const t = rule.temperature ?? 0;
  if (!(Number.isFinite(t) && t >= 0)) throw new RouterRetrieverError("BAD_INPUT", `temperature must be a number >= 0, got ${String(rule.temperature)}`);
  if (rule.topM !== undefined && !(Number.isInteger(rule.topM) && rule.topM >= 1)) throw new RouterRetrieverError("BAD_INPUT", `topM must be a positive integer, got ${String(rule.topM)}`);
  if (rule.baseBias !== undefined && !Number.isFinite(rule.baseBias)) throw new RouterRetrieverError("BAD_INPUT", `baseBias must be a finite number, got ${String(rule.baseBias)}`);
  if (rule.minScore !== undefined && !Number.isFinite(rule.minScore)) throw new RouterRetrieverError("BAD_INPUT", `minScore must be a finite number, got ${String(rule.minScore)}`);
}

/**
 * Hard: the argmax of the (base-biased) scores, ties to the earlier expert. Soft: softmax over
 * the top-m. Out of domain (best raw score below minScore): base alone. No candidate with a
 * pilot: base alone.
 */
function decideFromScores(experts: readonly string[], scores: Record<string, number>, rule: RoutingRule): RoutingDecision {
  const biased = experts.map((e) => scores[e]! + (e === BASE && Number.isFinite(scores[e]!) ? (rule.baseBias ?? 0) : 0));
  let best = -1;
  biased.forEach((s, k) => {
    if (Number.isFinite(s) && (best < 0 || s > biased[best]!)) best = k;
  });
  if (best < 0) return { expert: BASE, scores };
  const top = Math.max(...experts.map((e) => scores[e]!));
  if (rule.minScore !== undefined && top < rule.minScore) return { expert: BASE, scores, weights: { [BASE]: 1 }, stayedWithBase: "out-of-domain" };
  const t = rule.temperature ?? 0;
  if (t === 0) return { expert: experts[best]!, scores };
  // Stable order: by biased score, ties by expert order; the top m share a softmax.
  const order = biased.map((s, k) => k).filter((k) => Number.isFinite(biased[k]!)).sort((a, b) => biased[b]! - biased[a]! || a - b);
  const kept = order.slice(0, rule.topM ?? order.length);
  const mx = biased[kept[0]!]!;
  const ex = kept.map((k) => Math.exp((biased[k]! - mx) / t));
  const z = ex.reduce((a, b) => a + b, 0);
  const weights: Record<string, number> = {};
  kept.forEach((k, i) => {
    if (ex[i]! > 0) weights[experts[k]!] = ex[i]! / z;
  });
  return { expert: experts[kept[0]!]!, scores, weights };
}

function norm(v: Float32Array, off: number, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += v[off + i]! * v[off + i]!;
  return Math.sqrt(s);
}

/** RouterRetriever itself behind the common router interface. */
export function pilotRouter(lib: PilotLibrary, rule: RoutingRule = PAPER_RULE, allowed?: ReadonlySet<string>): QueryRouter {
  return {
    name: `RouterRetriever(${describeRule(rule)})`,
    route(baseVectors: Float32Array, n: number): RoutingDecision[] {
      checkRows(baseVectors, n, lib.dims);
      return route(lib, baseVectors, rule, allowed);
    },
  };
}

/** A rule in words, e.g. "mean, cosine, soft T=0.02 top-2, base +0.01". */
export function describeRule(rule: RoutingRule): string {
  const parts: string[] = [rule.aggregate, rule.similarity];
  if (rule.temperature) parts.push(`soft T=${rule.temperature}${rule.topM ? ` top-${rule.topM}` : ""}`);
  if (rule.baseBias) parts.push(`base ${rule.baseBias > 0 ? "+" : ""}${rule.baseBias}`);
  if (rule.minScore !== undefined) parts.push(`OOD < ${rule.minScore}`);
  return parts.join(", ");
}

/** The common interface passes n explicitly; it must agree with the buffer. */
export function checkRows(baseVectors: Float32Array, n: number, dims: number): void {
  if (!Number.isInteger(n) || n < 0 || baseVectors.length !== n * dims) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `expected ${n} x ${dims} floats, got ${baseVectors.length}`);
  }
}
