/**
 * Op constructors: each adds one ONNX node to a graph and infers its output shape. Forward
 * models and the generated backward pass are both written with these, so there is one place
 * that knows each operator's shape rule.
 */
import { RouterRetrieverError } from "../errors.js";
import { broadcastShapes, normAxis, type DType, type Dim, type Graph, type Shape, type Value } from "./ir.js";

function one(vs: Value[]): Value {
  return vs[0]!;
}

function binary(g: Graph, op: "Add" | "Sub" | "Mul" | "Div" | "Max", a: Value, b: Value): Value {
  if (a.dtype !== b.dtype) throw new RouterRetrieverError("SHAPE_MISMATCH", `${op}: dtypes differ (${a.dtype} vs ${b.dtype})`);
  return one(g.add(op, [a, b], [{ dtype: a.dtype, shape: broadcastShapes(a.shape, b.shape, op) }]));
}

export const add = (g: Graph, a: Value, b: Value): Value => binary(g, "Add", a, b);
export const sub = (g: Graph, a: Value, b: Value): Value => binary(g, "Sub", a, b);
export const mul = (g: Graph, a: Value, b: Value): Value => binary(g, "Mul", a, b);
export const div = (g: Graph, a: Value, b: Value): Value => binary(g, "Div", a, b);
export const max = (g: Graph, a: Value, b: Value): Value => binary(g, "Max", a, b);

function unary(g: Graph, op: "Erf" | "Exp" | "Log" | "Sqrt" | "Neg" | "Tanh" | "Identity" | "Abs", x: Value): Value {
  return one(g.add(op, [x], [{ dtype: x.dtype, shape: x.shape }]));
}

export const erf = (g: Graph, x: Value): Value => unary(g, "Erf", x);
export const exp = (g: Graph, x: Value): Value => unary(g, "Exp", x);
export const log = (g: Graph, x: Value): Value => unary(g, "Log", x);
export const sqrt = (g: Graph, x: Value): Value => unary(g, "Sqrt", x);
export const neg = (g: Graph, x: Value): Value => unary(g, "Neg", x);
export const tanh = (g: Graph, x: Value): Value => unary(g, "Tanh", x);
export const identity = (g: Graph, x: Value): Value => unary(g, "Identity", x);
export const abs = (g: Graph, x: Value): Value => unary(g, "Abs", x);

/** Batched matrix product with numpy broadcasting over the leading dims. */
export function matmul(g: Graph, a: Value, b: Value): Value {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `MatMul needs rank >= 2, got [${a.shape}] x [${b.shape}]`);
  }
  const k1 = a.shape[a.shape.length - 1]!;
  const k2 = b.shape[b.shape.length - 2]!;
  if (typeof k1 === "number" && typeof k2 === "number" && k1 !== k2) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `MatMul inner dims differ: [${a.shape}] x [${b.shape}]`);
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), "MatMul");
  const shape = [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!];
  return one(g.add("MatMul", [a, b], [{ dtype: a.dtype, shape }]));
}

export function gather(g: Graph, data: Value, indices: Value, axis = 0): Value {
  const ax = normAxis(axis, data.shape.length);
  const shape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
  return one(g.add("Gather", [data, indices], [{ dtype: data.dtype, shape }], { axis: { i: ax } }));
}

/**
 * Reshape to `target`, where 0 copies the input's dim and -1 is inferred (ONNX semantics);
 * `outShape` names the result's dims for shape tracking when they are symbolic.
 */
export function reshape(g: Graph, x: Value, target: readonly number[], outShape?: Shape): Value {
  const shape: Dim[] = outShape ? [...outShape] : target.map((d, i) => (d === 0 ? x.shape[i]! : d === -1 ? `r${x.id}_${i}` : d));
  const t = g.constant(target, "int64");
  return one(g.add("Reshape", [x, t], [{ dtype: x.dtype, shape }]));
}

/** Reshape `x` to the runtime shape held in `shapeValue` (an int64 vector, e.g. from `shapeOf`). */
export function reshapeLike(g: Graph, x: Value, shapeValue: Value, outShape: Shape): Value {
  return one(g.add("Reshape", [x, shapeValue], [{ dtype: x.dtype, shape: outShape }]));
}

export function shapeOf(g: Graph, x: Value): Value {
  return one(g.add("Shape", [x], [{ dtype: "int64", shape: [x.shape.length] }]));
}

export function expand(g: Graph, x: Value, shapeValue: Value, outShape: Shape): Value {
  return one(g.add("Expand", [x, shapeValue], [{ dtype: x.dtype, shape: outShape }]));
}

export function transpose(g: Graph, x: Value, perm: readonly number[]): Value {
  const shape = perm.map((p) => x.shape[p]!);
  return one(g.add("Transpose", [x], [{ dtype: x.dtype, shape }], { perm: { ints: perm } }));
}

/** Swaps the last two axes. */
export function transposeLast2(g: Graph, x: Value): Value {
  const r = x.shape.length;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return transpose(g, x, perm);
}

export function unsqueeze(g: Graph, x: Value, axes: readonly number[]): Value {
  const rank = x.shape.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank));
  const shape: Dim[] = [];
  let src = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[src++]!);
  const ax = g.constant(axes, "int64");
  return one(g.add("Unsqueeze", [x, ax], [{ dtype: x.dtype, shape }]));
}

function reduce(g: Graph, op: "ReduceSum" | "ReduceMean" | "ReduceMax", x: Value, axes: readonly number[], keepdims: boolean): Value {
  const norm = axes.map((a) => normAxis(a, x.shape.length));
  const shape = x.shape.flatMap((d, i) => (norm.includes(i) ? (keepdims ? [1] : []) : [d]));
  const ax = g.constant(norm, "int64");
  return one(g.add(op, [x, ax], [{ dtype: x.dtype, shape }], { keepdims: { i: keepdims ? 1 : 0 } }));
}

export const reduceSum = (g: Graph, x: Value, axes: readonly number[], keepdims = false): Value => reduce(g, "ReduceSum", x, axes, keepdims);
export const reduceMean = (g: Graph, x: Value, axes: readonly number[], keepdims = false): Value => reduce(g, "ReduceMean", x, axes, keepdims);
export const reduceMax = (g: Graph, x: Value, axes: readonly number[], keepdims = false): Value => reduce(g, "ReduceMax", x, axes, keepdims);

export function softmax(g: Graph, x: Value, axis = -1): Value {
  return one(g.add("Softmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: { i: normAxis(axis, x.shape.length) } }));
}

export function logSoftmax(g: Graph, x: Value, axis = -1): Value {
  return one(g.add("LogSoftmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: { i: normAxis(axis, x.shape.length) } }));
}

/**
 * Layer normalisation over the last axis. Also returns the saved mean and inverse standard
 * deviation (ONNX's optional outputs), which the backward rule reuses instead of recomputing.
 */
export function layerNorm(g: Graph, x: Value, scale: Value, bias: Value, epsilon: number): { y: Value; mean: Value; invStd: Value } {
  const stat = [...x.shape.slice(0, -1), 1];
  const [y, mean, invStd] = g.add(
    "LayerNormalization",
    [x, scale, bias],
    // Mean and InvStdDev have ONNX's stash_type (default float32), whatever x's dtype is.
    [{ dtype: x.dtype, shape: x.shape }, { dtype: "float32", shape: stat }, { dtype: "float32", shape: stat }],
    { axis: { i: -1 }, epsilon: { f: epsilon } },
  );
  return { y: y!, mean: mean!, invStd: invStd! };
}

/** ONNX Range: start, start + delta, ... below limit (scalar inputs); `length` names the result's dim. */
export function range(g: Graph, start: Value, limit: Value, delta: Value, length: Dim): Value {
  return one(g.add("Range", [start, limit, delta], [{ dtype: start.dtype, shape: [length] }]));
}

export function cast(g: Graph, x: Value, to: DType): Value {
  const code = { float32: 1, float64: 11, int64: 7, bool: 9, int8: 3, uint8: 2, int32: 6 }[to];
  return one(g.add("Cast", [x], [{ dtype: to, shape: x.shape }], { to: { i: code } }));
}

export function equal(g: Graph, a: Value, b: Value): Value {
  return one(g.add("Equal", [a, b], [{ dtype: "bool", shape: broadcastShapes(a.shape, b.shape, "Equal") }]));
}

export function where(g: Graph, cond: Value, a: Value, b: Value): Value {
  const shape = broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape, "Where"), "Where");
  return one(g.add("Where", [cond, a, b], [{ dtype: a.dtype, shape }]));
}

/** A float scalar constant in x's dtype, so graphs built in float64 (gradient checks) stay float64. */
export function scalarLike(g: Graph, x: Value, s: number): Value {
  return g.constant(s, x.dtype === "float64" ? "float64" : "float32");
}

export function scale(g: Graph, x: Value, s: number): Value {
  return mul(g, x, scalarLike(g, x, s));
}

function matmulShape(a: Value, b: Value, what: string): Dim[] {
  const k1 = a.shape[a.shape.length - 1]!;
  const k2 = b.shape[b.shape.length - 2]!;
  if (typeof k1 === "number" && typeof k2 === "number" && k1 !== k2) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `${what} inner dims differ: [${a.shape}] x [${b.shape}]`);
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), what);
  return [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!];
}

/**
 * ONNX Runtime's com.microsoft DynamicQuantizeMatMul: float `a` quantised per call to uint8
 * (asymmetric, whole tensor), times int8 `b` [in, out] with per-column float scales
 * `bScale` [out] (symmetric: no zero point), plus an optional float bias [out]; float result.
 */
export function dynamicQuantizeMatMul(g: Graph, a: Value, b: Value, bScale: Value, bias?: Value): Value {
  if (b.dtype !== "int8") throw new RouterRetrieverError("SHAPE_MISMATCH", `DynamicQuantizeMatMul: B must be int8, got ${b.dtype}`);
  // The optional b_zero_point slot is left empty ("") when a bias follows.
  const inputs = bias ? [a, b, bScale, EMPTY, bias] : [a, b, bScale];
  return one(g.add("DynamicQuantizeMatMul", inputs, [{ dtype: "float32", shape: matmulShape(a, b, "DynamicQuantizeMatMul") }]));
}

/** ONNX DynamicQuantizeLinear: x -> (uint8 y, float scale, uint8 zero point), whole-tensor. */
export function dynamicQuantizeLinear(g: Graph, x: Value): { y: Value; scale: Value; zeroPoint: Value } {
  const [y, s, z] = g.add("DynamicQuantizeLinear", [x], [{ dtype: "uint8", shape: x.shape }, { dtype: "float32", shape: [] }, { dtype: "uint8", shape: [] }]);
  return { y: y!, scale: s!, zeroPoint: z! };
}

/**
 * Symmetric int8 quantisation of each row (last axis) of x, as the [rows, in] uint8 codes with
 * zero point 128 (the u8 x s8 form ONNX Runtime's integer GEMM runs fastest):
 * code = round_half_even(x / scale) + 128, scale = max(|row|) / 127 per row. Unlike
 * DynamicQuantizeLinear's one range per tensor, a token's codes depend only on that token, not
 * on the batch it came in. One QuantizeLinear per-axis over the flattened rows does the
 * division, rounding and cast in a single pass.
 */
export function quantizeRows(g: Graph, x: Value): { y: Value; scale: Value; zeroPoint: Value } {
  const inF = x.shape[x.shape.length - 1]!;
  if (typeof inF !== "number") throw new RouterRetrieverError("SHAPE_MISMATCH", `quantizeRows: the last dim must be fixed, got [${x.shape}]`);
  const rows = reshape(g, x, [-1, inF], [`rows${x.id}`, inF]);
  const absMax = reduceMax(g, abs(g, rows), [1]); // [rows]
  // An all-zero row gets a tiny scale (its codes are 128 whatever the scale; 0 would give NaN).
  const rowScale = max(g, scale(g, absMax, 1 / 127), scalarLike(g, x, 1e-12));
  // Per-axis QuantizeLinear wants a zero point per row: 128 each, shaped like the scales.
  const zp = cast(g, add(g, scale(g, rowScale, 0), scalarLike(g, x, 128)), "uint8");
  const y = one(g.add("QuantizeLinear", [rows, rowScale, zp], [{ dtype: "uint8", shape: rows.shape }], { axis: { i: 0 } }));
  return { y, scale: unsqueeze(g, rowScale, [1]), zeroPoint: g.constant(128, "uint8") };
}

/**
 * x W^T in int8 for x [..., in] with per-row activation codes (quantizeRows) and per-output-
 * channel int8 weights `wq` [in, out] with scales `wScale` [out]: MatMulIntegerToFloat applies
 * the column scales inside the GEMM, one Mul the row scales, and the result takes x's leading dims.
 */
export function rowQuantizedMatMul(g: Graph, x: Value, codes: { y: Value; scale: Value; zeroPoint: Value }, wq: Value, wScale: Value): Value {
  const outF = wq.shape[1]!;
  if (typeof outF !== "number") throw new RouterRetrieverError("SHAPE_MISMATCH", `rowQuantizedMatMul: weight dims must be fixed, got [${wq.shape}]`);
  const acc = matmulIntegerToFloat(g, codes.y, wq, scalarLike(g, x, 1), wScale, codes.zeroPoint);
  const y2 = mul(g, acc, codes.scale); // [rows, out]
  // x's shape with the last dim swapped for out: shape * [1,..,1,0] + [0,..,0,out].
  const r = x.shape.length;
  const keep = g.constant([...new Array<number>(r - 1).fill(1), 0], "int64");
  const last = g.constant([...new Array<number>(r - 1).fill(0), outF], "int64");
  const target = add(g, mul(g, shapeOf(g, x), keep), last);
  return reshapeLike(g, y2, target, [...x.shape.slice(0, -1), outF]);
}

/** ONNX MatMulInteger: uint8 a (with zero point) x int8 b (zero point 0) -> int32. */
export function matmulInteger(g: Graph, a: Value, b: Value, aZeroPoint: Value): Value {
  return one(g.add("MatMulInteger", [a, b, aZeroPoint], [{ dtype: "int32", shape: matmulShape(a, b, "MatMulInteger") }]));
}

/** com.microsoft MatMulIntegerToFloat: (a - aZero) * aScale x b * bScale + bias, float out. */
export function matmulIntegerToFloat(g: Graph, a: Value, b: Value, aScale: Value, bScale: Value, aZeroPoint: Value, bias?: Value): Value {
  const inputs = bias ? [a, b, aScale, bScale, aZeroPoint, EMPTY, bias] : [a, b, aScale, bScale, aZeroPoint];
  return one(g.add("MatMulIntegerToFloat", inputs, [{ dtype: "float32", shape: matmulShape(a, b, "MatMulIntegerToFloat") }]));
}

/**
 * com.microsoft MultiHeadAttention: softmax(q k^T * scale + mask) v per head, on [b, s, h]
 * inputs and output (no head transposes in the graph). `bias` [3h] is added to q, k and v
 * inside the kernel; `keyPaddingMask` int32 [b, s] is 1 for tokens to attend, 0 for padding.
 */
export function multiHeadAttention(g: Graph, q: Value, k: Value, v: Value, numHeads: number, opts: { bias?: Value; keyPaddingMask?: Value } = {}): Value {
  if (q.shape.length !== 3) throw new RouterRetrieverError("SHAPE_MISMATCH", `MultiHeadAttention: query must be [batch, seq, hidden], got [${q.shape}]`);
  if (opts.keyPaddingMask && opts.keyPaddingMask.dtype !== "int32") throw new RouterRetrieverError("SHAPE_MISMATCH", "MultiHeadAttention: key padding mask must be int32");
  const inputs = [q, k, v, opts.bias ?? EMPTY, ...(opts.keyPaddingMask ? [opts.keyPaddingMask] : [])];
  return one(g.add("MultiHeadAttention", inputs, [{ dtype: q.dtype, shape: q.shape }], { num_heads: { i: numHeads } }));
}

/** com.microsoft SkipLayerNormalization: LayerNorm(x + skip + bias) over the last axis, one pass. */
export function skipLayerNorm(g: Graph, x: Value, skip: Value, gamma: Value, beta: Value, epsilon: number, bias?: Value): Value {
  const inputs = bias ? [x, skip, gamma, beta, bias] : [x, skip, gamma, beta];
  return one(g.add("SkipLayerNormalization", inputs, [{ dtype: x.dtype, shape: broadcastShapes(x.shape, skip.shape, "SkipLayerNormalization") }], { epsilon: { f: epsilon } }));
}

/** com.microsoft BiasGelu: exact (erf) GELU of x + bias, one pass. */
export function biasGelu(g: Graph, x: Value, bias: Value): Value {
  return one(g.add("BiasGelu", [x, bias], [{ dtype: x.dtype, shape: x.shape }]));
}

/** ONNX's marker for an omitted optional input: a node input named "". */
const EMPTY: Value = { id: -1, name: "", dtype: "float32", shape: [] };
