import { describe, expect, it } from "vitest";
import { rng } from "../util/random.js";
import { adamMinimize, balancedClassWeights, logisticLoss, softmaxLoss, trainLogistic, trainSoftmax, type LossAndGrad } from "./logreg.js";

function randn(rand: () => number, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => (2 * rand() - 1) * scale);
}

/** Central differences of the loss, entry by entry, against the analytic gradient. */
function checkGradient(f: (p: Float64Array) => LossAndGrad, p: Float64Array): number {
  const { grad } = f(p);
  const h = 1e-6;
  let worst = 0;
  for (let j = 0; j < p.length; j++) {
    const up = Float64Array.from(p);
    const down = Float64Array.from(p);
    up[j] += h;
    down[j] -= h;
    const fd = (f(up).loss - f(down).loss) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[j]!) / Math.max(1e-6, Math.abs(fd) + Math.abs(grad[j]!)));
  }
  return worst;
}

describe("loss gradients match finite differences", () => {
  const rand = rng(7);
  const n = 9;
  const d = 5;
  const x = randn(rand, n * d, 2);

  it("binary logistic, with sample weights and L2", () => {
    const y = Float64Array.from({ length: n }, (_, i) => i % 3 === 0 ? 1 : 0);
    const sw = Float64Array.from({ length: n }, () => 0.5 + rand());
    const p = randn(rand, d + 1);
    expect(checkGradient((q) => logisticLoss(q, x, y, n, d, 0.3, sw), p)).toBeLessThan(1e-6);
    expect(checkGradient((q) => logisticLoss(q, x, y, n, d, 0), p)).toBeLessThan(1e-6);
  });

  it("softmax head, with class weights and L2", () => {
    const k = 4;
    const y = Int32Array.from({ length: n }, (_, i) => i % k);
    const cw = Float64Array.from([0.5, 2, 1, 0.25]);
    const p = randn(rand, k * (d + 1));
    expect(checkGradient((q) => softmaxLoss(q, x, y, n, d, k, 0.2, cw), p)).toBeLessThan(1e-6);
    expect(checkGradient((q) => softmaxLoss(q, x, y, n, d, k, 0), p)).toBeLessThan(1e-6);
  });

  it("logistic loss is stable for huge logits", () => {
    const p = Float64Array.from([1e4, 0]);
    const r = logisticLoss(p, Float64Array.from([1, -1]), [0, 1], 2, 1, 0);
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.loss).toBeCloseTo(1e4, 6);
  });
});

describe("training", () => {
  it("Adam finds the minimum of a quadratic", () => {
    const f = (p: Float64Array): LossAndGrad => ({ loss: (p[0]! - 3) ** 2 + 2 * (p[1]! + 1) ** 2, grad: Float64Array.from([2 * (p[0]! - 3), 4 * (p[1]! + 1)]) });
    const { params } = adamMinimize(f, new Float64Array(2), { steps: 2000, lr: 0.05, lossTol: 0 });
    expect(params[0]).toBeCloseTo(3, 3);
    expect(params[1]).toBeCloseTo(-1, 3);
  });

  it("stops early once the loss stops improving", () => {
    const f = (p: Float64Array): LossAndGrad => ({ loss: 1 + 0 * p[0]!, grad: Float64Array.from([1e-3]) });
    expect(adamMinimize(f, new Float64Array(1), { steps: 100 }).losses).toHaveLength(11);
    expect(adamMinimize(f, new Float64Array(1), { steps: 100, lossTol: 0 }).losses).toHaveLength(100);
  });

  it("a logistic regression separates a linearly separable toy problem", () => {
    const rand = rng(3);
    const n = 200;
    const d = 6;
    const w = randn(rand, d);
    const x = new Float32Array(n * d);
    const y = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += w[i]! * (x[r * d + i] = 0.05 * (2 * rand() - 1));
      y[r] = s > 0 ? 1 : 0;
    }
    const m = trainLogistic(x, y, n, d, { l2: 0, steps: 500 });
    let correct = 0;
    for (let r = 0; r < n; r++) if ((m.probability(x, r * d) > 0.5 ? 1 : 0) === y[r]) correct++;
    expect(correct / n).toBeGreaterThanOrEqual(0.98);
    expect(m.losses[m.losses.length - 1]!).toBeLessThan(m.losses[0]!);
  });

  it("a softmax head separates three clusters", () => {
    const rand = rng(4);
    const n = 150;
    const d = 3;
    const centres = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    const x = new Float32Array(n * d);
    const y = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      y[r] = r % 3;
      for (let i = 0; i < d; i++) x[r * d + i] = centres[y[r]!]![i]! + 0.2 * (2 * rand() - 1);
    }
    const m = trainSoftmax(x, y, n, d, 3, { steps: 300 });
    for (let r = 0; r < n; r++) {
      const p = m.probabilities(x, r * d);
      expect(p.indexOf(Math.max(...p))).toBe(y[r]);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });

  it("is deterministic", () => {
    const x = Float32Array.from([0, 1, 1, 0, 1, 1, 0.5, 0.2]);
    const y = Int32Array.from([0, 1, 1, 0]);
    const a = trainSoftmax(x, y, 4, 2, 2, { steps: 50 });
    const b = trainSoftmax(x, y, 4, 2, 2, { steps: 50 });
    expect([...a.params]).toEqual([...b.params]);
  });

  it("balanced class weights give every present class the same total weight", () => {
    const w = balancedClassWeights([0, 0, 0, 1, 2, 2], 4);
    expect([...w]).toEqual([6 / 9, 2, 1, 0]);
  });
});
