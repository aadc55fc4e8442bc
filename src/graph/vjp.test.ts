/**
 * Every VJP rule against central finite differences, one small case per rule (plus the
 * broadcasting, batching, axis and keepdims variants the BERT/InfoNCE graphs use).
 *
 * float64 (h = 1e-5, atol = 1e-7, rtol = 1e-6): central differences have truncation error
 * ~h^2/6 * |f'''| ~ 1e-10 and rounding error ~eps64 * |L| / h ~ 1e-16 * 10 / 1e-5 = 1e-10, so
 * correct rules land around 1e-9; a wrong rule is off by O(0.1..1).
 *
 * float32, only where ONNX Runtime has no double kernel (Erf) or to test Cast (h = 1e-2,
 * atol = 5e-4, rtol = 1e-3): the loss is summed in float64, so noise is the op's own rounding,
 * eps32 * |y| / 2h ~ 6e-8 / 2e-2 = 3e-6, and truncation h^2/6 * |f'''| <= 1e-4/6 * 2.3 = 4e-5
 * for erf (|erf'''| <= 4/sqrt(pi)); 5e-4 leaves >10x margin yet is 100x below a real bug.
 *
 * LayerNormalization in float64: its saved Mean/InvStdDev are float32 (ONNX stash_type; ORT
 * has no double stash), so the backward carries ~1e-7 relative error: atol = rtol = 1e-5.
 */
import { describe, expect, it } from "vitest";
import { Graph, type OpType, type Value } from "./ir.js";
import * as op from "./ops.js";
import { inferenceOnly, none, VJP } from "./vjp.js";
import { gradCheck, type CheckInput, type GradCheck } from "../../test/support/graph.js";

const F64 = { dtype: "float64", h: 1e-5, atol: 1e-7, rtol: 1e-6 } as const;
const F32 = { dtype: "float32", h: 1e-2, atol: 5e-4, rtol: 1e-3 } as const;
const LN64 = { dtype: "float64", h: 1e-5, atol: 1e-5, rtol: 1e-5 } as const;

type Case = [name: string, check: GradCheck];

const t = (name: string, dims: number[], extra: Partial<CheckInput> = {}): CheckInput => ({ name, dims, target: true, ...extra });
const positive = { range: [0.5, 2] } as const;

function c(tol: Pick<GradCheck, "dtype" | "h" | "atol" | "rtol">, inputs: CheckInput[], build: (g: Graph, xs: Value[]) => Value): GradCheck {
  return { ...tol, inputs, build };
}

const unary = (f: (g: Graph, x: Value) => Value, extra: Partial<CheckInput> = {}): GradCheck => c(F64, [t("x", [2, 3], extra)], (g, [x]) => f(g, x!));

const cases: Case[] = [
  ["Add: bias [2,3,4] + [4]", c(F64, [t("x", [2, 3, 4]), t("b", [4])], (g, [x, b]) => op.add(g, x!, b!))],
  ["Add: mask [2,2,3,3] + [2,1,1,3]", c(F64, [t("s", [2, 2, 3, 3]), t("m", [2, 1, 1, 3])], (g, [s, m]) => op.add(g, s!, m!))],
  ["Add: symbolic [b,s,4] + [4]", c(F64, [t("x", [2, 3, 4], { shape: ["b", "s", 4] }), t("b", [4])], (g, [x, b]) => op.add(g, x!, b!))],
  ["Sub: [3] - [2,3]", c(F64, [t("a", [3]), t("b", [2, 3])], (g, [a, b]) => op.sub(g, a!, b!))],
  ["Mul: scalar * [2,3]", c(F64, [t("s", []), t("x", [2, 3])], (g, [s, x]) => op.mul(g, s!, x!))],
  ["Mul: [2,3,4] * [2,1,4]", c(F64, [t("a", [2, 3, 4]), t("b", [2, 1, 4])], (g, [a, b]) => op.mul(g, a!, b!))],
  ["Mul: x * x (same value twice)", c(F64, [t("x", [2, 3])], (g, [x]) => op.mul(g, x!, x!))],
  ["Div: [2,3] / [3]", c(F64, [t("a", [2, 3]), t("b", [3], positive)], (g, [a, b]) => op.div(g, a!, b!))],
  ["Div: [3,1] / [2,3,4]", c(F64, [t("a", [3, 1]), t("b", [2, 3, 4], positive)], (g, [a, b]) => op.div(g, a!, b!))],
  ["Max: [2,3] vs [3]", c(F64, [t("a", [2, 3]), t("b", [3])], (g, [a, b]) => op.max(g, a!, b!))],
  ["Exp", unary(op.exp)],
  ["Log", unary(op.log, positive)],
  ["Sqrt", unary(op.sqrt, positive)],
  ["Neg", unary(op.neg)],
  ["Tanh", unary(op.tanh)],
  ["Identity", unary(op.identity)],
  ["Erf (float32: no double kernel in ORT)", c(F32, [t("x", [2, 3, 4], { range: [-2, 2] })], (g, [x]) => op.erf(g, x!))],
  ["Cast float32 -> float64 -> float32", c(F32, [t("x", [2, 3])], (g, [x]) => op.cast(g, op.tanh(g, op.cast(g, x!, "float64")), "float32"))],
  ["MatMul: [2,3,4] @ rank-2 [4,5]", c(F64, [t("a", [2, 3, 4]), t("w", [4, 5])], (g, [a, w]) => op.matmul(g, a!, w!))],
  ["MatMul: attention [2,2,3,4] @ [2,2,4,3]", c(F64, [t("q", [2, 2, 3, 4]), t("k", [2, 2, 4, 3])], (g, [q, k]) => op.matmul(g, q!, k!))],
  ["MatMul: batch broadcast [2,1,3,4] @ [3,4,2]", c(F64, [t("a", [2, 1, 3, 4]), t("b", [3, 4, 2])], (g, [a, b]) => op.matmul(g, a!, b!))],
  ["MatMul: rank-2 [3,4] @ [2,4,5]", c(F64, [t("a", [3, 4]), t("b", [2, 4, 5])], (g, [a, b]) => op.matmul(g, a!, b!))],
  ["MatMul: symbolic [b,s,4] @ [4,2]", c(F64, [t("a", [2, 3, 4], { shape: ["b", "s", 4] }), t("w", [4, 2])], (g, [a, w]) => op.matmul(g, a!, w!))],
  ["Gather: axis 0, repeated indices", c(F64, [t("table", [5, 3]), { name: "ids", dims: [2, 3], dtype: "int64", data: [0, 4, 2, 2, 0, 1] }], (g, [tb, ids]) => op.gather(g, tb!, ids!))],
  ["Gather: axis 1, scalar index, symbolic dims (CLS pooling)", c(F64, [t("x", [2, 4, 3], { shape: ["b", "s", 3] }), { name: "i", dims: [], dtype: "int64", data: [0] }], (g, [x, i]) => op.gather(g, x!, i!, 1))],
  ["Gather: axis 1, [2] indices", c(F64, [t("x", [3, 4, 2]), { name: "i", dims: [2], dtype: "int64", data: [3, 1] }], (g, [x, i]) => op.gather(g, x!, i!, 1))],
  ["Reshape: [2,3,4] -> [6,4]", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.reshape(g, x!, [6, 4]))],
  ["Reshape: symbolic [b,3,4] -> [0,-1]", c(F64, [t("x", [2, 3, 4], { shape: ["b", 3, 4] })], (g, [x]) => op.reshape(g, x!, [0, -1], ["b", 12]))],
  ["Transpose: heads [0,2,1,3]", c(F64, [t("x", [2, 3, 2, 4])], (g, [x]) => op.transpose(g, x!, [0, 2, 1, 3]))],
  ["Transpose: keys [0,2,3,1] (not its own inverse)", c(F64, [t("x", [2, 3, 2, 4])], (g, [x]) => op.transpose(g, x!, [0, 2, 3, 1]))],
  ["Unsqueeze: [2,3] axes [1, -1]", c(F64, [t("x", [2, 3])], (g, [x]) => op.unsqueeze(g, x!, [1, -1]))],
  ["Expand: [3,1] -> [2,3,4]", c(F64, [t("x", [3, 1])], (g, [x]) => op.expand(g, x!, g.constant([2, 3, 4], "int64"), [2, 3, 4]))],
  ["Softmax: axis -1", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.softmax(g, x!, -1))],
  ["Softmax: axis 1", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.softmax(g, x!, 1))],
  ["LogSoftmax: axis -1", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.logSoftmax(g, x!, -1))],
  ["LogSoftmax: axis 0", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.logSoftmax(g, x!, 0))],
  ["LayerNormalization: x, scale, bias", c(LN64, [t("x", [2, 3, 4]), t("w", [4], positive), t("b", [4])], (g, [x, w, b]) => op.layerNorm(g, x!, w!, b!, 1e-5).y)],
  ["ReduceSum: axes [1], keepdims 0", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.reduceSum(g, x!, [1], false))],
  ["ReduceSum: axes [0,2], keepdims 1", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.reduceSum(g, x!, [0, 2], true))],
  ["ReduceSum: all axes to a scalar", c(F64, [t("x", [2, 3])], (g, [x]) => op.reduceSum(g, x!, [0, 1]))],
  ["ReduceMean: axes [-1], keepdims 1", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.reduceMean(g, x!, [-1], true))],
  ["ReduceMean: axes [0,2], keepdims 0", c(F64, [t("x", [2, 3, 4])], (g, [x]) => op.reduceMean(g, x!, [0, 2], false))],
  ["ReduceMean: symbolic [b,s,4] over s", c(F64, [t("x", [2, 3, 4], { shape: ["b", "s", 4] })], (g, [x]) => op.reduceMean(g, x!, [1]))],
  ["Where: bool mask [2,3], branches [2,3] and [3]", c(F64, [{ name: "m", dims: [2, 3], dtype: "bool", data: [1, 0, 1, 0, 0, 1] }, t("a", [2, 3]), t("b", [3])], (g, [m, a, b]) => op.where(g, m!, a!, b!))],
  ["Where: mask from Equal of int ids", c(F64, [{ name: "ids", dims: [2, 3], dtype: "int64", data: [0, 5, 0, 7, 0, 0] }, t("a", [2, 3])], (g, [ids, a]) => op.where(g, op.equal(g, ids!, g.constant(0, "int64")), a!, op.scalarLike(g, a!, -3)))],
];

describe("VJP rules vs central finite differences", () => {
  for (const [name, check] of cases) {
    it(name, async () => {
      const r = await gradCheck(check);
      expect(r.mismatches).toEqual([]);
      expect(r.checked).toBeGreaterThan(0);
    });
  }
});

/**
 * Ops a case differentiates through: built forward (no ONNX Runtime needed), an op counts when
 * one of its inputs depends on a target input, so a gradient actually flows through its rule.
 */
function opsExercised(check: GradCheck): Set<OpType> {
  const g = new Graph();
  const xs = check.inputs.map((i) => g.input(i.name, i.dtype ?? check.dtype, i.shape ?? i.dims));
  check.build(g, xs);
  const live = new Set(xs.filter((_, k) => check.inputs[k]!.target).map((x) => x.id));
  const out = new Set<OpType>();
  for (const n of g.nodes) {
    if (!n.inputs.some((v) => live.has(v.id))) continue;
    out.add(n.op);
    for (const o of n.outputs) live.add(o.id);
  }
  return out;
}

/** Differentiable ops (their rule is neither `none` nor `inferenceOnly`) that no case exercises. */
export function opsWithoutCheck(table: Readonly<Record<string, unknown>>, exercised: ReadonlySet<string>): string[] {
  return Object.entries(table)
    .filter(([name, rule]) => rule !== none && rule !== inferenceOnly && !exercised.has(name))
    .map(([name]) => name)
    .sort();
}

describe("VJP coverage", () => {
  const exercised = new Set(cases.flatMap(([, check]) => [...opsExercised(check)]));

  it("every differentiable op in the VJP table has a finite-difference case above", () => {
    expect(opsWithoutCheck(VJP, exercised)).toEqual([]);
  });

  it("would name an op whose case was removed, and a new op without one", () => {
    const withoutSqrt = new Set(cases.filter(([name]) => name !== "Sqrt").flatMap(([, check]) => [...opsExercised(check)]));
    expect(opsWithoutCheck(VJP, withoutSqrt)).toEqual(["Sqrt"]);
    expect(opsWithoutCheck({ ...VJP, FusedGelu: () => [] }, exercised)).toEqual(["FusedGelu"]);
    expect(opsWithoutCheck({ ...VJP, QuantizedThing: inferenceOnly, ShapeThing: none }, exercised)).toEqual([]);
  });
});
