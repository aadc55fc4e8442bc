/**
 * Plain-JS linear classifiers for the router baselines: binary logistic regression and a
 * multinomial softmax head, each as a loss-and-gradient function (checked against finite
 * differences in logreg.test.ts) plus full-batch Adam. Inputs are standardised per feature
 * first (embedding coordinates are ~0.05 in size, which would otherwise make the problem badly
 * conditioned for a fixed learning rate). Parameters start at zero: both losses are convex,
 * so with full-batch steps the result is deterministic without needing a seed.
 *
 * Parameter layout: one row of (d weights, then the bias) per output; the L2 penalty
 * (l2 / 2) * ||w||^2 applies to weights, never to biases.
 */
import { RouterRetrieverError } from "../errors.js";
import { adamWStep, initAdamW } from "../util/adam.js";

export interface LossAndGrad {
  readonly loss: number;
  readonly grad: Float64Array;
}

/** Per-feature mean and 1/std (1 for a constant feature), from the training rows. */
export interface Standardizer {
  readonly mean: Float64Array;
  readonly invStd: Float64Array;
}

export function fitStandardizer(x: ArrayLike<number>, n: number, d: number): Standardizer {
  const mean = new Float64Array(d);
  const invStd = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) mean[i] += x[r * d + i]!;
  for (let i = 0; i < d; i++) mean[i] /= Math.max(n, 1);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      const c = x[r * d + i]! - mean[i]!;
      invStd[i] += c * c;
    }
  }
  for (let i = 0; i < d; i++) {
    const sd = Math.sqrt(invStd[i]! / Math.max(n, 1));
    invStd[i] = sd > 1e-12 ? 1 / sd : 1;
  }
  return { mean, invStd };
}

export function standardize(s: Standardizer, x: ArrayLike<number>, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) out[r * d + i] = (x[r * d + i]! - s.mean[i]!) * s.invStd[i]!;
  return out;
}

/** log(1 + e^z) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/**
 * Weighted mean binary cross-entropy of sigmoid(w.x + b) against y in {0, 1}, plus L2.
 * params = [w (d), b]; weights default to 1 per sample.
 */
export function logisticLoss(params: Float64Array, x: Float64Array, y: ArrayLike<number>, n: number, d: number, l2: number, sampleWeight?: ArrayLike<number>): LossAndGrad {
  const grad = new Float64Array(d + 1);
  let loss = 0;
  let wsum = 0;
  for (let r = 0; r < n; r++) {
    const sw = sampleWeight ? sampleWeight[r]! : 1;
    if (sw === 0) continue;
    const off = r * d;
    const z = params[d]! + dotAt(params, 0, x, off, d);
    // BCE = softplus(z) - y z; its derivative in z is sigmoid(z) - y.
    loss += sw * (softplus(z) - y[r]! * z);
    const g = sw * (sigmoid(z) - y[r]!);
    axpyAt(g, x, off, grad, 0, d);
    grad[d] += g;
    wsum += sw;
  }
  const inv = wsum > 0 ? 1 / wsum : 0;
  loss *= inv;
  for (let i = 0; i <= d; i++) grad[i] *= inv;
  for (let i = 0; i < d; i++) {
    loss += 0.5 * l2 * params[i]! * params[i]!;
    grad[i] += l2 * params[i]!;
  }
  return { loss, grad };
}

/**
 * Class-weighted mean cross-entropy of softmax(W x + b) against class indices y, plus L2.
 * params = k rows of [w (d), b]; the mean divides by the summed weights of the samples.
 */
export function softmaxLoss(params: Float64Array, x: Float64Array, y: ArrayLike<number>, n: number, d: number, k: number, l2: number, classWeight?: ArrayLike<number>): LossAndGrad {
  const stride = d + 1;
  const grad = new Float64Array(k * stride);
  const z = new Float64Array(k);
  let loss = 0;
  let wsum = 0;
  for (let r = 0; r < n; r++) {
    const yc = y[r]!;
    const cw = classWeight ? classWeight[yc]! : 1;
    if (cw === 0) continue;
    const off = r * d;
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      const s = params[c * stride + d]! + dotAt(params, c * stride, x, off, d);
      z[c] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[c]! - max);
    const lse = max + Math.log(sum);
    loss += cw * (lse - z[yc]!);
    for (let c = 0; c < k; c++) {
      // d(lse - z_y)/dz_c = softmax_c - [c == y].
      const g = cw * (Math.exp(z[c]! - lse) - (c === yc ? 1 : 0));
      if (g === 0) continue;
      axpyAt(g, x, off, grad, c * stride, d);
      grad[c * stride + d] += g;
    }
    wsum += cw;
  }
  const inv = wsum > 0 ? 1 / wsum : 0;
  loss *= inv;
  for (let j = 0; j < grad.length; j++) grad[j] *= inv;
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < d; i++) {
      const w = params[c * stride + i]!;
      loss += 0.5 * l2 * w * w;
      grad[c * stride + i] += l2 * w;
    }
  }
  return { loss, grad };
}

/** a[aOff..aOff+d) . b[bOff..bOff+d): the inner loop of both losses, kept tiny so V8 optimises it well. */
function dotAt(a: Float64Array, aOff: number, b: Float64Array, bOff: number, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += a[aOff + i]! * b[bOff + i]!;
  return s;
}

/** y[yOff..yOff+d) += alpha * x[xOff..xOff+d). */
function axpyAt(alpha: number, x: Float64Array, xOff: number, y: Float64Array, yOff: number, d: number): void {
  for (let i = 0; i < d; i++) y[yOff + i] += alpha * x[xOff + i]!;
}

export interface AdamOptions {
  /** Full-batch steps (default 300). */
  readonly steps?: number;
  /** Default 0.05: the problem is standardised and convex, so a large step is safe. */
  readonly lr?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** Stop early once the largest gradient entry is below this (default 1e-6). */
  readonly gradTol?: number;
  /**
   * Stop early once 10 steps in a row failed to beat the best loss so far by this fraction of
   * it (default 1e-6; 0 disables): on these convex problems the remaining steps would not
   * change any decision.
   */
  readonly lossTol?: number;
}

/** Minimises f from p0 with Adam (Kingma & Ba), full batch; returns the final parameters and losses. */
export function adamMinimize(f: (p: Float64Array) => LossAndGrad, p0: Float64Array, opts: AdamOptions = {}): { params: Float64Array; losses: number[] } {
  const steps = opts.steps ?? 300;
  const lr = opts.lr ?? 0.05;
  const b1 = opts.beta1 ?? 0.9;
  const b2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const tol = opts.gradTol ?? 1e-6;
  const lossTol = opts.lossTol ?? 1e-6;
  if (!(Number.isInteger(steps) && steps >= 0)) throw new RouterRetrieverError("BAD_INPUT", `steps must be a non-negative integer, got ${steps}`);
  const p = Float64Array.from(p0);
  const adam = initAdamW([p]);
  const cfg = { lr, beta1: b1, beta2: b2, eps, weightDecay: 0 };
  const losses: number[] = [];
  let best = Infinity;
  let stale = 0;
  for (let t = 1; t <= steps; t++) {
    const { loss, grad } = f(p);
    losses.push(loss);
    let gmax = 0;
    for (let j = 0; j < grad.length; j++) gmax = Math.max(gmax, Math.abs(grad[j]!));
    if (gmax < tol) break;
    if (best === Infinity || loss < best - lossTol * Math.abs(best)) stale = 0;
    else if (lossTol > 0 && ++stale >= 10) break;
    best = Math.min(best, loss);
    adamWStep([p], [grad], adam, cfg, lr);
  }
  return { params: p, losses };
}

export interface LinearModelOptions extends AdamOptions {
  /** L2 strength on the (standardised) weights; default 1e-3. */
  readonly l2?: number;
}

/** A trained binary classifier: P(y = 1 | x). */
export interface LogisticModel {
  readonly standardizer: Standardizer;
  readonly params: Float64Array;
  readonly losses: readonly number[];
  probability(x: ArrayLike<number>, offset?: number): number;
}

export function trainLogistic(x: ArrayLike<number>, y: ArrayLike<number>, n: number, d: number, opts: LinearModelOptions & { readonly sampleWeight?: ArrayLike<number> } = {}): LogisticModel {
  checkData(x, y.length, n, d);
  const st = fitStandardizer(x, n, d);
  const xs = standardize(st, x, n, d);
  const l2 = opts.l2 ?? 1e-3;
  const { params, losses } = adamMinimize((p) => logisticLoss(p, xs, y, n, d, l2, opts.sampleWeight), new Float64Array(d + 1), opts);
  return {
    standardizer: st,
    params,
    losses,
    probability(v: ArrayLike<number>, offset = 0): number {
      let z = params[d]!;
      for (let i = 0; i < d; i++) z += params[i]! * (v[offset + i]! - st.mean[i]!) * st.invStd[i]!;
      return sigmoid(z);
    },
  };
}

/** A trained multinomial classifier: class probabilities. */
export interface SoftmaxModel {
  readonly standardizer: Standardizer;
  readonly params: Float64Array;
  readonly classes: number;
  readonly losses: readonly number[];
  probabilities(x: ArrayLike<number>, offset?: number): Float64Array;
}

export function trainSoftmax(x: ArrayLike<number>, y: ArrayLike<number>, n: number, d: number, k: number, opts: LinearModelOptions & { readonly classWeight?: ArrayLike<number> } = {}): SoftmaxModel {
  checkData(x, y.length, n, d);
  for (let r = 0; r < n; r++) {
    const c = y[r]!;
    if (!(Number.isInteger(c) && c >= 0 && c < k)) throw new RouterRetrieverError("BAD_INPUT", `label ${r} is ${c}, expected a class index in [0, ${k})`);
  }
  const st = fitStandardizer(x, n, d);
  const xs = standardize(st, x, n, d);
  const l2 = opts.l2 ?? 1e-3;
  const stride = d + 1;
  const { params, losses } = adamMinimize((p) => softmaxLoss(p, xs, y, n, d, k, l2, opts.classWeight), new Float64Array(k * stride), opts);
  return {
    standardizer: st,
    params,
    classes: k,
    losses,
    probabilities(v: ArrayLike<number>, offset = 0): Float64Array {
      const z = new Float64Array(k);
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        let s = params[c * stride + d]!;
        for (let i = 0; i < d; i++) s += params[c * stride + i]! * (v[offset + i]! - st.mean[i]!) * st.invStd[i]!;
        z[c] = s;
        max = Math.max(max, s);
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += (z[c] = Math.exp(z[c]! - max));
      for (let c = 0; c < k; c++) z[c] /= sum;
      return z;
    },
  };
}

/**
 * sklearn's class_weight="balanced": n / (classes present * count of the class), so every
 * present class carries the same total weight; absent classes get 0.
 */
export function balancedClassWeights(y: ArrayLike<number>, k: number): Float64Array {
  const counts = new Float64Array(k);
  for (let r = 0; r < y.length; r++) counts[y[r]!]++;
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c > 0 ? y.length / (present * c) : 0));
}

function checkData(x: ArrayLike<number>, ny: number, n: number, d: number): void {
  if (x.length !== n * d) throw new RouterRetrieverError("SHAPE_MISMATCH", `features: ${x.length} values for ${n} x ${d}`);
  if (ny !== n) throw new RouterRetrieverError("SHAPE_MISMATCH", `${ny} labels for ${n} samples`);
  if (n === 0) throw new RouterRetrieverError("BAD_INPUT", "no training samples");
}
