/**
 * Which domain a query comes from, as a linear discriminant (LDA) fitted on the labelled
 * training queries' domains: the "knn" rule's domain shares when RoutingRule.domainModel is
 * "linear". A query's nearest neighbours share its topic, and topics cross domains (a SciFact
 * claim about a protein sits among CISI and Cranfield abstracts on the same subject), while
 * what separates domains (claims vs abstracts vs code questions) is a direction in embedding
 * space that a linear model finds and a neighbourhood does not.
 *
 * LDA rather than a trained softmax: it is fitted in one pass (class means and a pooled
 * covariance, shrunk towards a multiple of the identity, then one Cholesky solve per domain), so
 * a library of 9,300 queries gets its model in about two seconds at first use, deterministically,
 * with no learning rate to tune. Domains get equal priors: a library's per-domain counts say how
 * many training queries each dataset had, not how often users ask about it.
 */
import { CholeskyDecomposition, Matrix } from "ml-matrix";
import { RouterRetrieverError } from "../errors.js";
import { scoredKeys, type PilotInstances } from "./types.js";

export interface DomainModel {
  /** Class order of `probabilities`. */
  readonly domains: readonly string[];
  /** P(domain | query) for the query at `offset` in `vectors` (normalised to unit length first, like the instances). */
  probabilities(vectors: Float32Array, offset: number): Float64Array;
}

/** Covariance shrinkage towards (its mean variance) x identity: keeps the 384 x 384 solve well posed with few queries per domain. */
export const DEFAULT_SHRINKAGE = 0.2;

/** Fitted on the rows `rows` marks with 1 (all rows when absent). */
export function fitDomainModel(inst: PilotInstances, dims: number, shrinkage = DEFAULT_SHRINKAGE, rows?: Uint8Array): DomainModel {
  if (!(shrinkage > 0 && shrinkage <= 1)) throw new RouterRetrieverError("BAD_INPUT", `shrinkage must be in (0, 1], got ${shrinkage}`);
  const keep = [...Array(inst.count).keys()].filter((j) => !rows || rows[j] === 1);
  const domains = [...new Set(keep.map((j) => inst.domains[j]!))];
  const k = domains.length;
  const cls = Int32Array.from(keep, (j) => domains.indexOf(inst.domains[j]!));
  const n = keep.length;
  const X = new Float32Array(n * dims);
  keep.forEach((j, r) => X.set(inst.vectors.subarray(j * dims, (j + 1) * dims), r * dims));
  const means = Array.from({ length: k }, () => new Float64Array(dims));
  const counts = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    const m = means[cls[r]!]!;
    counts[cls[r]!]++;
    for (let i = 0; i < dims; i++) m[i] += X[r * dims + i]!;
  }
  means.forEach((m, c) => {
    for (let i = 0; i < dims; i++) m[i] /= counts[c]!;
  });
  // Pooled within-domain scatter, lower triangle (the inner loop is the whole cost: n x dims^2 / 2).
  const S = new Float64Array(dims * dims);
  const z = new Float64Array(dims);
  for (let r = 0; r < n; r++) {
    const m = means[cls[r]!]!;
    for (let i = 0; i < dims; i++) z[i] = X[r * dims + i]! - m[i]!;
    for (let i = 0; i < dims; i++) {
      const zi = z[i]!;
      if (zi === 0) continue;
      const o = i * dims;
      for (let j = 0; j <= i; j++) S[o + j] += zi * z[j]!;
    }
  }
  let trace = 0;
  for (let i = 0; i < dims; i++) trace += S[i * dims + i]!;
  const scale = 1 / Math.max(n, 1);
  const ridge = shrinkage * ((trace * scale) / dims || 1);
  const cov = new Matrix(dims, dims);
  for (let i = 0; i < dims; i++) {
    for (let j = 0; j <= i; j++) {
      const v = (1 - shrinkage) * S[i * dims + j]! * scale + (i === j ? ridge : 0);
      cov.set(i, j, v);
      cov.set(j, i, v);
    }
  }
  const chol = new CholeskyDecomposition(cov);
  if (!chol.isPositiveDefinite()) throw new RouterRetrieverError("BAD_INPUT", "domain model: the shrunk covariance is not positive definite");
  // w_c = cov^-1 mu_c, b_c = -mu_c . w_c / 2: the Gaussian log-likelihood up to a term shared by every domain.
  const W = chol.solve(new Matrix(means.map((m) => Array.from(m))).transpose());
  const weights = domains.map((_, c) => Float64Array.from(W.getColumn(c)));
  const bias = means.map((m, c) => {
    let s = 0;
    for (let i = 0; i < dims; i++) s += m[i]! * weights[c]![i]!;
    return -0.5 * s;
  });
  return {
    domains,
    probabilities(vectors: Float32Array, offset: number): Float64Array {
      let nn = 0;
      for (let i = 0; i < dims; i++) nn += vectors[offset + i]! * vectors[offset + i]!;
      const inv = nn > 0 ? 1 / Math.sqrt(nn) : 0;
      const p = new Float64Array(k);
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        const w = weights[c]!;
        let s = 0;
        for (let i = 0; i < dims; i++) s += w[i]! * vectors[offset + i]!;
        p[c] = s * inv + bias[c]!;
        max = Math.max(max, p[c]!);
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += p[c] = Math.exp(p[c]! - max);
      for (let c = 0; c < k; c++) p[c] /= sum;
      return p;
    },
  };
}

/** Instances are immutable: each library's domain model is fitted once, at its first use. */
const fitted = new WeakMap<PilotInstances, DomainModel>();

/**
 * The library's domain model, fitted on the rows scored by the same candidates as most rows: the
 * library's own labelled queries. Evidence added later with a new expert (scored by the base and
 * that expert only) stays out, so adding an expert does not refit the model under every other
 * query and move routes the new expert has no say in (the router's promise, router.ts
 * revoteOnCommonRows); its domain is judged by its own evidence among the neighbours.
 */
export function domainModelOf(inst: PilotInstances, dims: number): DomainModel {
  let m = fitted.get(inst);
  if (!m) fitted.set(inst, (m = fitDomainModel(inst, dims, DEFAULT_SHRINKAGE, mostCommonlyScoredRows(inst))));
  return m;
}

function mostCommonlyScoredRows(inst: PilotInstances): Uint8Array {
  const keys = scoredKeys(inst, [...inst.scores.values()]);
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  let best = "";
  let most = -1;
  for (const [key, c] of counts) if (c > most) [best, most] = [key, c];
  return Uint8Array.from(keys, (key) => (key === best ? 1 : 0));
}
