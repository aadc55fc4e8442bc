/**
 * `gradients` end to end: accumulation, composite blocks checked against finite differences
 * (tolerances as in vjp.test.ts, float64: h = 1e-5, atol = 1e-7, rtol = 1e-6 unless a case
 * says otherwise), path restriction and pruning, and its errors.
 */
import { describe, expect, it } from "vitest";
import { gradients } from "./autodiff.js";
import { Graph, type Value } from "./ir.js";
import * as op from "./ops.js";
import { gradCheck, rng, uniform, type CheckInput } from "../../test/support/graph.js";

const F64 = { dtype: "float64", h: 1e-5, atol: 1e-7, rtol: 1e-6 } as const;

/** A frozen float64 weight with deterministic values. */
function weightMaker(g: Graph, seed: number): (name: string, shape: number[], lo?: number, hi?: number) => Value {
  const rand = rng(seed);
  return (name, shape, lo = -0.5, hi = 0.5) =>
    g.initializer(name, { shape, data: Float64Array.from(uniform(rand, shape.reduce((a, b) => a * b, 1), lo, hi)) });
}

/** x + s * (x A^T) B^T: a LoRA delta on the identity, A [r, h], B [h, r]. */
function lora(g: Graph, x: Value, A: Value, B: Value, s: number): Value {
  return op.scale(g, op.matmul(g, op.matmul(g, x, op.transpose(g, A, [1, 0])), op.transpose(g, B, [1, 0])), s);
}

/** One attention block as bert-graph writes it: batch 2, seq 3, hidden 8, 2 heads of 4, LoRA on q and v. */
function attentionBlock(g: Graph, x: Value, mask: Value, A: Value, B: Value): Value {
  const W = weightMaker(g, 42);
  const linear = (v: Value, name: string, withLora: boolean): Value => {
    const y = op.add(g, op.matmul(g, v, W(`${name}.w`, [8, 8])), W(`${name}.b`, [8]));
    return withLora ? op.add(g, y, lora(g, v, A, B, 2)) : y;
  };
  const heads = (v: Value, perm: number[]): Value => op.transpose(g, op.reshape(g, v, [0, 0, 2, 4], ["batch", "seq", 2, 4]), perm);
  const q = heads(linear(x, "q", true), [0, 2, 1, 3]); // [b, 2, s, 4]
  const k = heads(linear(x, "k", false), [0, 2, 3, 1]); // [b, 2, 4, s]
  const v = heads(linear(x, "v", true), [0, 2, 1, 3]);
  const probs = op.softmax(g, op.add(g, op.scale(g, op.matmul(g, q, k), 0.5), mask), -1);
  const ctx = op.reshape(g, op.transpose(g, op.matmul(g, probs, v), [0, 2, 1, 3]), [0, 0, 8], ["batch", "seq", 8]);
  const out = linear(ctx, "o", false);
  return op.layerNorm(g, op.add(g, out, x), W("ln.w", [8], 0.5, 1.5), W("ln.b", [8]), 1e-12).y;
}

const loraInputs: CheckInput[] = [
  { name: "A", dims: [2, 8], target: true },
  { name: "B", dims: [8, 2], target: true },
];

describe("gradients", () => {
  it("sums the contributions of a value used by several nodes", async () => {
    const r = await gradCheck({ ...F64, inputs: [{ name: "x", dims: [2, 3], target: true }], build: (g, [x]) => op.add(g, op.mul(g, x!, x!), op.mul(g, op.exp(g, x!), x!)) });
    expect(r.mismatches).toEqual([]);
  });

  it("differentiates a tiny attention block w.r.t. LoRA A and B only", async () => {
    const r = await gradCheck({
      ...F64,
      inputs: [
        { name: "x", dims: [2, 3, 8], shape: ["batch", "seq", 8] },
        // additive mask [b,1,1,s]: batch row 1 cannot attend to its last token
        { name: "mask", dims: [2, 1, 1, 3], shape: ["batch", 1, 1, "seq"], data: [0, 0, 0, 0, 0, -1e4] },
        ...loraInputs,
      ],
      build: (g, [x, mask, A, B]) => attentionBlock(g, x!, mask!, A!, B!),
    });
    expect(r.mismatches).toEqual([]);
    expect(r.checked).toBe(32);
  });

  it("differentiates an InfoNCE loss through mean pooling and L2 normalisation", async () => {
    // 1/tau = 20 makes third derivatives ~20^3 larger than in the op tests: truncation
    // h^2/6 * |f'''| ~ 1e-10 * 8e3 / 6 ~ 1e-7 absolute, so atol 1e-6 here (still 1e5x below a bug).
    const r = await gradCheck({
      ...F64,
      atol: 1e-6,
      inputs: [
        { name: "tokens", dims: [2, 3, 8] },
        { name: "mask", dims: [2, 3], data: [1, 1, 1, 1, 1, 0] },
        { name: "docs", dims: [4, 8] },
        { name: "onehot", dims: [2, 4], data: [1, 0, 0, 0, 0, 1, 0, 0] },
        ...loraInputs,
      ],
      build: (g, [tokens, mask, docs, onehot, A, B]) => {
        const h = op.tanh(g, op.add(g, tokens!, lora(g, tokens!, A!, B!, 0.5)));
        const m = op.unsqueeze(g, mask!, [-1]);
        const count = op.max(g, op.reduceSum(g, m, [1]), op.scalarLike(g, h, 1e-9));
        const pooled = op.div(g, op.reduceSum(g, op.mul(g, h, m), [1]), count);
        const norm = op.sqrt(g, op.reduceSum(g, op.mul(g, pooled, pooled), [-1], true));
        const q = op.div(g, pooled, op.max(g, norm, op.scalarLike(g, pooled, 1e-12)));
        const scores = op.scale(g, op.matmul(g, q, op.transpose(g, docs!, [1, 0])), 1 / 0.05);
        const picked = op.reduceSum(g, op.mul(g, op.logSoftmax(g, scores, -1), onehot!), [-1]);
        return op.neg(g, op.reduceMean(g, picked, [0]));
      },
    });
    expect(r.mismatches).toEqual([]);
  });

  it("spends nothing on frozen weights: only the needed MatMuls are emitted", () => {
    // h1 = x W1 + LoRA(x); y = h1 W2. Needed: dh1 = gy W2^T, then d(xA^T), dB^T, dA^T: 4 MatMuls.
    // Not needed (pruned): dW2 = h1^T gy and dx. W1's MatMul is not on a target path at all.
    const g = new Graph();
    const W = weightMaker(g, 3);
    const x = g.input("x", "float64", [2, 3, 8]);
    const A = g.input("A", "float64", [2, 8]);
    const B = g.input("B", "float64", [8, 2]);
    const W2 = W("W2", [8, 8]);
    const h1 = op.add(g, op.matmul(g, x, W("W1", [8, 8])), lora(g, x, A, B, 1));
    const y = op.matmul(g, h1, W2);
    const loss = op.reduceSum(g, op.mul(g, y, y), [0, 1, 2]);
    const before = g.nodes.length;
    const grads = gradients(g, loss, [A, B]);
    const backward = g.nodes.slice(before);
    expect(backward.filter((n) => n.op === "MatMul")).toHaveLength(4);
    expect(backward.some((n) => n.inputs.includes(h1))).toBe(false); // dW2 = h1^T gy would read h1
    expect(grads.get(A.id)!.shape).toEqual([2, 8]);
    expect(grads.get(B.id)!.shape).toEqual([8, 2]);
    // Every backward node's inputs exist (pruning kept what the gradients need).
    const known = new Set([...g.inputs, ...g.initializers.map((i) => i.value), ...g.nodes.flatMap((n) => n.outputs)].map((v) => v.id));
    expect(backward.every((n) => n.inputs.every((v) => known.has(v.id)))).toBe(true);
  });

  it("never visits ops off the target->loss path, even ones whose rule would raise", async () => {
    // Gradients through LayerNormalization's Mean output are not implemented (the rule raises).
    // Here Mean is used on a frozen branch (no target upstream) and on a side branch of the
    // target that the loss ignores; neither is visited. float32 graph, tolerances of vjp.test.ts.
    const ln = (g: Graph, v: Value): Value => op.layerNorm(g, v, op.scalarLike(g, v, 1), op.scalarLike(g, v, 0), 1e-5).mean;
    const r = await gradCheck({
      dtype: "float32", h: 1e-2, atol: 5e-4, rtol: 1e-3,
      inputs: [{ name: "x", dims: [2, 3], target: true }, { name: "frozen", dims: [2, 3] }],
      build: (g, [x, frozen]) => {
        ln(g, op.exp(g, x!)); // side branch of the target, unused by the loss
        return op.add(g, op.tanh(g, x!), ln(g, frozen!));
      },
    });
    expect(r.mismatches).toEqual([]);

    const g = new Graph();
    const x = g.input("x", "float32", [2, 3]);
    const loss = op.reduceSum(g, ln(g, x), [0, 1]);
    expect(() => gradients(g, loss, [x])).toThrow(/no gradient rule for LayerNormalization/);
  });

  it("rejects a non-scalar loss and a target the loss does not depend on", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2, 3]);
    const other = g.input("other", "float64", [3]);
    expect(() => gradients(g, op.exp(g, x), [x])).toThrow(/must be a float scalar/);
    expect(() => gradients(g, op.reduceSum(g, x, [0, 1]), [x, other])).toThrow(/target other does not affect loss/);
  });
});
