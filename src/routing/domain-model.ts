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
import type { PilotInstances } from "./types.js";

export interface DomainModel {
  /** Class order of `probabilities`. */
  readonly domains: readonly string[];
  /** P(domain | query) for the query at `offset` in `vectors` (normalised to unit length first, like the instances). */
  probabilities(vectors: Float32Array, offset: number): Float64Array;
}

/** Covariance shrinkage towards (its mean variance) x identity: keeps the 384 x 384 solve well posed with few queries per domain. */
export const DEFAULT_SHRINKAGE = 0.2;

export function fitDomainModel(inst: PilotInstances, dims: number, shrinkage = DEFAULT_SHRINKAGE): DomainModel {
  if (!(shrinkage > 0 && shrinkage <= 1)) throw new RouterRetrieverError("BAD_INPUT", `shrinkage must be in (0, 1], got ${shrinkage}`);
  const domains = [...new Set(inst.domains)];
  const k = domains.length;
  const cls = Int32Array.from(inst.domains, (d) => domains.indexOf(d));
  const n = inst.count;
  const X = inst.vectors;
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

export function domainModelOf(inst: PilotInstances, dims: number): DomainModel {
  let m = fitted.get(inst);
  if (!m) fitted.set(inst, (m = fitDomainModel(inst, dims)));
  return m;
}
