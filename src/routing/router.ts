/**
 * Routing a query by its base embedding (METHOD.md "Routing a query"): similarity to every
 * pilot (dot by default, cosine as an option), then per expert either the mean of its pilots'
 * similarities (the paper) or the best single pilot (the reference code's "max"), then the
 * argmax. Ties go to the expert listed first in the library (library order starts with
 * "base" when the library was built with it), so a decision never depends on float noise in
 * iteration order.
 */
import { RouterRetrieverError } from "../errors.js";
import { domainModelOf, type DomainModel } from "./domain-model.js";
import { DEFAULT_NEIGHBOURS, FAMILIARITY_NEIGHBOURS, PAPER_RULE, BASE, decisionWeights, scoredKeys, type PilotInstances, type PilotLibrary, type QueryRouter, type RoutingDecision, type RoutingRule } from "./types.js";

/**
 * One decision per row of `baseVectors` (row-major, lib.dims wide). `scores` holds every
 * library expert that `allowed` admits (all when omitted); an expert with no pilot scores
 * -Infinity and is never chosen. If no admitted expert has a pilot, the query goes to "base"
 * when admitted (the general model is always servable), otherwise this throws.
 */
export function route(lib: PilotLibrary, baseVectors: Float32Array, rule: RoutingRule = PAPER_RULE, allowed?: ReadonlySet<string>, neighbours?: Neighbours): RoutingDecision[] {
  const d = lib.dims;
  if (baseVectors.length % d !== 0) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `route: ${baseVectors.length} floats is not a whole number of ${d}-dim vectors`);
  }
  if (rule.aggregate !== "mean" && rule.aggregate !== "max" && rule.aggregate !== "knn") throw new RouterRetrieverError("BAD_INPUT", `unknown aggregate "${String(rule.aggregate)}"`);
  if (rule.similarity !== "dot" && rule.similarity !== "cosine") throw new RouterRetrieverError("BAD_INPUT", `unknown similarity "${String(rule.similarity)}"`);
  checkSoftRule(rule);
  const experts = lib.experts.filter((e) => allowed === undefined || allowed.has(e));
  if (rule.aggregate === "knn") return routeKnn(lib, experts, baseVectors, rule, allowed, neighbours);
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

/** Each query's nearest labelled training queries (cosine), best first; index -1 pads when there are fewer than k. */
export interface Neighbours {
  readonly k: number;
  /** n x k row indices into PilotInstances. */
  readonly index: Int32Array;
  /** n x k cosines. */
  readonly sim: Float32Array;
}

/** The k nearest instances of every query (a bounded min-heap per query: O(N log k)), among `rows` (1 = eligible) when given. */
export function nearestInstances(inst: PilotInstances, baseVectors: Float32Array, dims: number, k: number, rows?: Uint8Array): Neighbours {
  if (!(Number.isInteger(k) && k >= 1)) throw new RouterRetrieverError("BAD_INPUT", `neighbours must be a positive integer, got ${String(k)}`);
  const n = baseVectors.length / dims;
  const index = new Int32Array(n * k).fill(-1);
  const sim = new Float32Array(n * k).fill(-Infinity);
  const heapI = new Int32Array(k);
  const heapS = new Float64Array(k);
  const V = inst.vectors;
  for (let q = 0; q < n; q++) {
    const off = q * dims;
    let qn = 0;
    for (let i = 0; i < dims; i++) qn += baseVectors[off + i]! * baseVectors[off + i]!;
    const inv = qn > 0 ? 1 / Math.sqrt(qn) : 0;
    let size = 0;
    const qv = baseVectors.subarray(off, off + dims);
    const count = inst.count;
    for (let j0 = 0; j0 < count; j0 += 4) {
      // Four rows per pass over the query: each query value is loaded once for four products.
      const full = j0 + 4 <= count;
      // A revote's mask (rows) excludes whole runs of rows (another domain's evidence): skip their products.
      if (rows && full && rows[j0] === 0 && rows[j0 + 1] === 0 && rows[j0 + 2] === 0 && rows[j0 + 3] === 0) continue;
      const o0 = j0 * dims;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      if (full) {
        const o1 = o0 + dims, o2 = o1 + dims, o3 = o2 + dims;
        for (let i = 0; i < dims; i++) {
          const x = qv[i]!;
          s0 += x * V[o0 + i]!;
          s1 += x * V[o1 + i]!;
          s2 += x * V[o2 + i]!;
          s3 += x * V[o3 + i]!;
        }
      } else {
        const dot = (o: number): number => { let t = 0; for (let i = 0; i < dims; i++) t += qv[i]! * V[o + i]!; return t; };
        s0 = dot(o0);
        if (j0 + 1 < count) s1 = dot(o0 + dims);
        if (j0 + 2 < count) s2 = dot(o0 + 2 * dims);
      }
      const n = Math.min(4, count - j0);
      for (let t = 0; t < n; t++) {
        const j = j0 + t;
        if (rows && rows[j] === 0) continue;
        const s = (t === 0 ? s0 : t === 1 ? s1 : t === 2 ? s2 : s3) * inv;
        if (size < k) {
          // sift up
          let c = size++;
          while (c > 0) {
            const p = (c - 1) >> 1;
            if (heapS[p]! <= s) break;
            heapS[c] = heapS[p]!;
            heapI[c] = heapI[p]!;
            c = p;
          }
          heapS[c] = s;
          heapI[c] = j;
        } else if (s > heapS[0]!) {
          // replace the smallest and sift down
          let c = 0;
          for (;;) {
            const l = 2 * c + 1;
            if (l >= k) break;
            const r = l + 1;
            const m = r < k && heapS[r]! < heapS[l]! ? r : l;
            if (heapS[m]! >= s) break;
            heapS[c] = heapS[m]!;
            heapI[c] = heapI[m]!;
            c = m;
          }
          heapS[c] = s;
          heapI[c] = j;
        }
      }
    }
    const order = Array.from({ length: size }, (_, t) => t).sort((a, b) => heapS[b]! - heapS[a]! || heapI[a]! - heapI[b]!);
    order.forEach((t, r) => {
      index[q * k + r] = heapI[t]!;
      sim[q * k + r] = heapS[t]!;
    });
  }
  return { k, index, sim };
}

/** Instances are immutable: their domain count is computed once, not on every route() call. */
const domainCounts = new WeakMap<PilotInstances, number>();

/**
 * The neighbours that vote: the rule's k, but never more than an average domain holds, so in a
 * small library the vote stays local instead of averaging every domain (with the experiment's
 * 9,300 labelled queries over six domains, and the demo's 1,800, k = 128 is unchanged).
 */
export function knnNeighbours(inst: PilotInstances, k: number): number {
  let domains = domainCounts.get(inst);
  if (domains === undefined) domainCounts.set(inst, (domains = new Set(inst.domains).size));
  return Math.max(1, Math.min(k, Math.floor(inst.count / Math.max(1, domains))));
}

function routeKnn(lib: PilotLibrary, experts: readonly string[], baseVectors: Float32Array, rule: RoutingRule, allowed: ReadonlySet<string> | undefined, pre?: Neighbours): RoutingDecision[] {
  const inst = lib.instances;
  if (!inst) throw new RouterRetrieverError("BAD_INPUT", `the "knn" rule needs a pilot library with its labelled queries (save the library with its labels)`);
  const k = knnNeighbours(inst, rule.neighbours ?? DEFAULT_NEIGHBOURS);
  const nb = pre && pre.k >= k ? pre : nearestInstances(inst, baseVectors, lib.dims, k);
  const n = baseVectors.length / lib.dims;
  const cols = experts.map((e) => inst.scores.get(e));
  if (cols.every((c) => c === undefined) && allowed !== undefined && !allowed.has(BASE)) {
    throw new RouterRetrieverError("NOT_FOUND", `no labelled query scores any allowed expert (${experts.join(", ") || "none allowed"}), and "base" is not allowed`);
  }
  const out: RoutingDecision[] = [];
  const domains = rule.domainShare ? domainEstimates(inst, lib.dims, experts, rule) : undefined;
  for (let q = 0; q < n; q++) out.push(decideKnn(q, nb, k, experts, cols, inst.scores.get(BASE), rule, domains, baseVectors.subarray(q * lib.dims, (q + 1) * lib.dims)));
  return revoteOnCommonRows(inst, lib.dims, baseVectors, experts, cols, rule, k, out);
}

/**
 * A library grown by adding an expert with its own domain's evidence holds rows that only some
 * candidates scored (NaN for the rest). Its rows then sit among an older query's neighbours and
 * would push out rows the older candidates were judged on, moving routes the new expert has no
 * say in. So each query is decided again on the rows that every candidate judged for it scored
 * (its k nearest among those): a query whose neighbourhood the new domain does not claim is
 * decided exactly as before the addition, and one it claims is decided between the base and the
 * new expert on the new expert's own evidence. A library where every row is scored by every
 * candidate (the experiment's, or one re-scored on the new domain) is decided in one pass.
 */
function revoteOnCommonRows(
  inst: PilotInstances,
  dims: number,
  baseVectors: Float32Array,
  experts: readonly string[],
  cols: ReadonlyArray<Float32Array | undefined>,
  rule: RoutingRule,
  k: number,
  first: RoutingDecision[],
): RoutingDecision[] {
  const { rowSet, sets } = scoredSets(inst, experts, cols);
  if (sets.size <= 1) return first;
  const groups = new Map<string, number[]>();
  first.forEach((d, q) => {
    const judged = experts.map((e, c) => (e === BASE || Number.isFinite(d.scores[e]!) ? c : -1)).filter((c) => c >= 0);
    let covered = 0;
    let all = true;
    for (const key of sets) {
      if (judged.every((c) => key[c] === "1")) covered++;
      else all = false;
    }
    if (all || covered === 0) return;
    const req = judged.join(",");
    const g = groups.get(req);
    if (g) g.push(q);
    else groups.set(req, [q]);
  });
  const out = first.slice();
  const baseCol = inst.scores.get(BASE);
  const domains = rule.domainShare ? domainEstimates(inst, dims, experts, rule) : undefined;
  for (const [req, qs] of groups) {
    const judged = req.split(",").map(Number);
    const rows = new Uint8Array(inst.count);
    for (let j = 0; j < inst.count; j++) rows[j] = judged.every((c) => rowSet[j]![c] === "1") ? 1 : 0;
    const sub = new Float32Array(qs.length * dims);
    qs.forEach((q, i) => sub.set(baseVectors.subarray(q * dims, (q + 1) * dims), i * dims));
    const nb = nearestInstances(inst, sub, dims, k, rows);
    qs.forEach((q, i) => {
      out[q] = decideKnn(i, nb, k, experts, cols, baseCol, rule, domains, sub.subarray(i * dims, (i + 1) * dims));
    });
  }
  return out;
}

/** Instances are immutable: each row's set of scoring candidates is computed once per candidate list. */
const scoredSetCache = new WeakMap<PilotInstances, Map<string, { rowSet: string[]; sets: Set<string> }>>();

/** Each row's scoring candidates as a key ("1" where candidate c scored it), and the distinct keys. */
function scoredSets(inst: PilotInstances, experts: readonly string[], cols: ReadonlyArray<Float32Array | undefined>): { rowSet: string[]; sets: Set<string> } {
  let byList = scoredSetCache.get(inst);
  if (!byList) scoredSetCache.set(inst, (byList = new Map()));
  const id = experts.join("\u0000");
  const hit = byList.get(id);
  if (hit) return hit;
  const rowSet = scoredKeys(inst, cols);
  const out = { rowSet, sets: new Set(rowSet) };
  byList.set(id, out);
  return out;
}

/** One candidate's mean nDCG@10 gain over the base on each domain's labelled queries (NaN: never scored there). */
interface DomainGain {
  /** Row j holds its domain's gain, so a query's neighbour-domain estimate is one pass over its neighbours. */
  readonly rows: Float32Array;
  readonly byDomain: ReadonlyMap<string, number>;
}

/** What the domain-aware "knn" rule reads besides the neighbours: per-domain gains, and the linear domain model when the rule asks for it. */
interface DomainEstimates {
  readonly gains: ReadonlyMap<string, DomainGain>;
  readonly model?: DomainModel;
}

function domainEstimates(inst: PilotInstances, dims: number, experts: readonly string[], rule: RoutingRule): DomainEstimates {
  const gains = domainGains(inst, experts);
  return rule.domainModel === "linear" ? { gains, model: domainModelOf(inst, dims) } : { gains };
}

/** Instances are immutable: each candidate's per-domain gains are computed once. */
const domainGainCache = new WeakMap<PilotInstances, Map<string, DomainGain>>();

function domainGains(inst: PilotInstances, experts: readonly string[]): ReadonlyMap<string, DomainGain> {
  let byExpert = domainGainCache.get(inst);
  if (!byExpert) domainGainCache.set(inst, (byExpert = new Map()));
  const baseCol = inst.scores.get(BASE);
  for (const e of experts) {
    if (byExpert.has(e)) continue;
    const col = inst.scores.get(e);
    const sum = new Map<string, number>();
    const cnt = new Map<string, number>();
    if (col && baseCol && e !== BASE) {
      for (let j = 0; j < inst.count; j++) {
        const v = col[j]!;
        const b = baseCol[j]!;
        if (Number.isNaN(v) || Number.isNaN(b)) continue;
        const d = inst.domains[j]!;
        sum.set(d, (sum.get(d) ?? 0) + v - b);
        cnt.set(d, (cnt.get(d) ?? 0) + 1);
      }
    }
    const byDomain = new Map([...new Set(inst.domains)].map((d) => [d, e === BASE ? 0 : cnt.has(d) ? sum.get(d)! / cnt.get(d)! : Number.NaN]));
    byExpert.set(e, { rows: Float32Array.from(inst.domains, (d) => byDomain.get(d)!), byDomain });
  }
  return byExpert;
}

/**
 * The linear domain model's estimate of an expert's gain: sum over domains of P(domain | query)
 * x the expert's gain there, over the domains where it was scored; undefined when those hold
 * less than half the probability (the neighbours then decide, as with neighbour domains).
 */
function modelGain(model: DomainModel, p: Float64Array, gain: DomainGain): number | undefined {
  let mass = 0;
  let sum = 0;
  model.domains.forEach((d, c) => {
    const g = gain.byDomain.get(d);
    if (g === undefined || Number.isNaN(g)) return;
    mass += p[c]!;
    sum += p[c]! * g;
  });
  return mass >= 0.5 ? sum / mass : undefined;
}

/** One query's decision from its neighbours: each candidate's mean nDCG@10 on them (gains partly from their domains with domainShare). */
function decideKnn(
  q: number,
  nb: Neighbours,
  k: number,
  experts: readonly string[],
  cols: ReadonlyArray<Float32Array | undefined>,
  baseCol: Float32Array | undefined,
  rule: RoutingRule,
  domains?: DomainEstimates,
  /** The query's base embedding (the linear domain model reads it). */
  query?: Float32Array,
): RoutingDecision {
  const scores: Record<string, number> = {};
  let simSum = 0;
  let used = 0;
  let baseSum = 0;
  let baseCount = 0;
  for (let r = 0; r < k; r++) {
    const j = nb.index[q * nb.k + r]!;
    if (j < 0) break;
    simSum += nb.sim[q * nb.k + r]!;
    used++;
    const b = baseCol?.[j];
    if (b !== undefined && !Number.isNaN(b)) {
      baseSum += b;
      baseCount++;
    }
  }
  const baseMean = baseCount > 0 ? baseSum / baseCount : Number.NaN;
  // The linear domain model, for a query familiar enough to trust it with (RoutingRule.familiarity).
  const model = domains?.model;
  let p: Float64Array | undefined;
  if (model && query) {
    const m = Math.min(used, FAMILIARITY_NEIGHBOURS);
    let near = 0;
    for (let r = 0; r < m; r++) near += nb.sim[q * nb.k + r]!;
    if (rule.familiarity === undefined || (m > 0 && near / m >= rule.familiarity)) p = model.probabilities(query, 0);
  }
  experts.forEach((e, c) => {
    const col = cols[c];
    let sum = 0;
    let diff = 0;
    let cnt = 0;
    let paired = 0;
    if (col) {
      for (let r = 0; r < used; r++) {
        const j = nb.index[q * nb.k + r]!;
        const v = col[j]!;
        if (Number.isNaN(v)) continue;
        sum += v;
        cnt++;
        const b = baseCol?.[j];
        if (b !== undefined && !Number.isNaN(b)) {
          diff += v - b;
          paired++;
        }
      }
    }
    // A candidate scored on only a few of the neighbours (added later, with its own domain's
    // evidence) is not judged by them: its estimate would rest on another domain's queries.
    if (cnt === 0 || (e !== BASE && cnt * 2 < used)) scores[e] = -Infinity;
    // Its gain over the base on the rows where both were scored, on top of the base's mean:
    // with every row scored this is exactly the mean, and otherwise it does not mistake an
    // easy query set (pseudo-queries) for a good expert.
    else if (e !== BASE && paired > 0 && !Number.isNaN(baseMean)) {
      let gain = diff / paired;
      const share = rule.domainShare ?? 0;
      const dg = domains?.gains.get(e);
      const fromModel = model && p && dg ? modelGain(model, p, dg) : undefined;
      if (share > 0 && fromModel !== undefined) gain = (1 - share) * gain + share * fromModel;
      else if (share > 0 && dg) {
        // The neighbours' domains weigh their domains' gains (a domain the expert was never
        // scored on gives no domain estimate: the neighbours' own gain stands alone there).
        let dSum = 0;
        let dCnt = 0;
        for (let r = 0; r < used; r++) {
          const g = dg.rows[nb.index[q * nb.k + r]!]!;
          if (Number.isNaN(g)) continue;
          dSum += g;
          dCnt++;
        }
        if (dCnt * 2 >= used) gain = (1 - share) * gain + share * (dSum / dCnt);
      }
      scores[e] = baseMean + gain;
    } else scores[e] = sum / cnt;
  });
  const margin = p && rule.familiarBaseBias !== undefined ? rule.familiarBaseBias : undefined;
  return decideFromScores(experts, scores, rule, used > 0 ? simSum / used : -Infinity, margin);
}

function checkSoftRule(rule: RoutingRule): void {
  const t = rule.temperature ?? 0;
  if (!(Number.isFinite(t) && t >= 0)) throw new RouterRetrieverError("BAD_INPUT", `temperature must be a number >= 0, got ${String(rule.temperature)}`);
  if (rule.topM !== undefined && !(Number.isInteger(rule.topM) && rule.topM >= 1)) throw new RouterRetrieverError("BAD_INPUT", `topM must be a positive integer, got ${String(rule.topM)}`);
  if (rule.baseBias !== undefined && !Number.isFinite(rule.baseBias)) throw new RouterRetrieverError("BAD_INPUT", `baseBias must be a finite number, got ${String(rule.baseBias)}`);
  if (rule.minScore !== undefined && !Number.isFinite(rule.minScore)) throw new RouterRetrieverError("BAD_INPUT", `minScore must be a finite number, got ${String(rule.minScore)}`);
  if (rule.neighbours !== undefined && !(Number.isInteger(rule.neighbours) && rule.neighbours >= 1)) throw new RouterRetrieverError("BAD_INPUT", `neighbours must be a positive integer, got ${String(rule.neighbours)}`);
  if (rule.domainModel !== undefined && rule.domainModel !== "neighbours" && rule.domainModel !== "linear") throw new RouterRetrieverError("BAD_INPUT", `domainModel must be "neighbours" or "linear", got ${JSON.stringify(rule.domainModel)}`);
  if (rule.expertShare !== undefined && !(Number.isFinite(rule.expertShare) && rule.expertShare > 0 && rule.expertShare <= 1)) throw new RouterRetrieverError("BAD_INPUT", `expertShare must be a number in (0, 1], got ${String(rule.expertShare)}`);
  if (rule.familiarBaseBias !== undefined && !Number.isFinite(rule.familiarBaseBias)) throw new RouterRetrieverError("BAD_INPUT", `familiarBaseBias must be a finite number, got ${String(rule.familiarBaseBias)}`);
  if (rule.familiarity !== undefined && !Number.isFinite(rule.familiarity)) throw new RouterRetrieverError("BAD_INPUT", `familiarity must be a finite number, got ${String(rule.familiarity)}`);
  if (rule.domainShare !== undefined && !(Number.isFinite(rule.domainShare) && rule.domainShare >= 0 && rule.domainShare <= 1)) throw new RouterRetrieverError("BAD_INPUT", `domainShare must be a number in [0, 1], got ${String(rule.domainShare)}`);
}

/**
 * Hard: the argmax of the (base-biased) scores, ties to the earlier expert. Soft: softmax over
 * the top-m. Out of domain (best raw score below minScore): base alone. No candidate with a
 * pilot: base alone.
 */
function decideFromScores(experts: readonly string[], scores: Record<string, number>, rule: RoutingRule, affinity?: number, margin?: number): RoutingDecision {
  const bias = margin ?? rule.baseBias ?? 0;
  const biased = experts.map((e) => scores[e]! + (e === BASE && Number.isFinite(scores[e]!) ? bias : 0));
  let best = -1;
  biased.forEach((s, k) => {
    if (Number.isFinite(s) && (best < 0 || s > biased[best]!)) best = k;
  });
  if (best < 0) return { expert: BASE, scores };
  const top = affinity ?? Math.max(...experts.map((e) => scores[e]!));
  if (rule.minScore !== undefined && top < rule.minScore) return { expert: BASE, scores, weights: { [BASE]: 1 }, stayedWithBase: "out-of-domain" };
  const t = rule.temperature ?? 0;
  const applied = margin !== undefined ? { margin } : {};
  if (t === 0) return withBaseShare({ expert: experts[best]!, scores, ...applied }, rule.expertShare);
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
  return withBaseShare({ expert: experts[kept[0]!]!, scores, weights, ...applied }, rule.expertShare);
}

/** RoutingRule.expertShare: the decision's weights scaled by the share, the rest on the base; the expert is the largest weight again. */
function withBaseShare(d: RoutingDecision, share: number | undefined): RoutingDecision {
  if (share === undefined || share === 1) return d;
  const w = decisionWeights(d);
  if (Object.keys(w).every((c) => c === BASE)) return d;
  const weights: Record<string, number> = {};
  for (const [c, x] of Object.entries(w)) if (c !== BASE && x * share > 0) weights[c] = x * share;
  weights[BASE] = (w[BASE] ?? 0) * share + (1 - share);
  // Ties keep the decision's own expert (a 50/50 mix is still led by the routed expert).
  let expert = d.expert;
  for (const [c, x] of Object.entries(weights)) if (x > weights[expert]!) expert = c;
  return { ...d, expert, weights };
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
  const parts: string[] = rule.aggregate === "knn" ? [`knn k=${rule.neighbours ?? DEFAULT_NEIGHBOURS}`] : [rule.aggregate, rule.similarity];
  if (rule.domainShare) parts.push(`domain ${rule.domainShare}${rule.domainModel === "linear" ? ` linear${rule.familiarity !== undefined ? ` if familiar >= ${rule.familiarity}` : ""}` : ""}`);
  if (rule.temperature) parts.push(`soft T=${rule.temperature}${rule.topM ? ` top-${rule.topM}` : ""}`);
  if (rule.expertShare !== undefined && rule.expertShare !== 1) parts.push(`experts ${rule.expertShare} with the base`);
  if (rule.baseBias) parts.push(`base ${rule.baseBias > 0 ? "+" : ""}${rule.baseBias}`);
  if (rule.familiarBaseBias !== undefined) parts.push(`base ${rule.familiarBaseBias >= 0 ? "+" : ""}${rule.familiarBaseBias} if familiar`);
  if (rule.minScore !== undefined) parts.push(`OOD < ${rule.minScore}`);
  return parts.join(", ");
}

/** The common interface passes n explicitly; it must agree with the buffer. */
export function checkRows(baseVectors: Float32Array, n: number, dims: number): void {
  if (!Number.isInteger(n) || n < 0 || baseVectors.length !== n * dims) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `expected ${n} x ${dims} floats, got ${baseVectors.length}`);
  }
}
