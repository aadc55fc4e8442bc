/**
 * Every gradient rule in one table (tinygrad's gradient.py, for our ONNX ops): for each op, the
 * vector-Jacobian product written as new graph nodes with the ops.ts constructors. A rule gets
 * the gradients of the node's outputs and returns one gradient per input, `undefined` for
 * inputs that are not differentiable (indices, shapes, axes, masks). Rules build gradients for
 * every float input; `gradients` (autodiff.ts) prunes the ones nobody asked for.
 */
import { RouterRetrieverError } from "../errors.js";
import { normAxis, staticSize, type DType, type Graph, type Node, type OpType, type Value } from "./ir.js";
import {
  cast, div, equal, exp, expand, gather, matmul, mul, neg, range, reduceMean, reduceSum, reshape, reshapeLike,
  scalarLike, scale, shapeOf, sub, transpose, transposeLast2, unsqueeze, where,
} from "./ops.js";

export type Grads = (Value | undefined)[];
export type VjpRule = (g: Graph, node: Node, outGrads: readonly (Value | undefined)[]) => Grads;

const isFloat = (t: DType): boolean => t === "float32" || t === "float64";

/** Rules for single-output ops: `gy` is the gradient of the one output. */
function single(rule: (g: Graph, n: Node, gy: Value) => Grads): VjpRule {
  return (g, n, outGrads) => {
    const gy = outGrads[0];
    if (!gy) throw new RouterRetrieverError("INTERNAL", `${n.op}: gradient rule called without an output gradient`);
    return rule(g, n, gy);
  };
}

/** Ops with no gradient (comparisons, shapes, index ranges). Exported for the VJP coverage test. */
export const none: VjpRule = (_g, n) => n.inputs.map(() => undefined);
/**
 * Quantised ops exist only in inference graphs; differentiating through one is a bug, not a zero.
 * Every rule that is neither this nor `none` must have a finite-difference case (vjp.test.ts).
 */
export const inferenceOnly: VjpRule = (_g, n) => {
  throw new RouterRetrieverError("UNSUPPORTED", `${n.op} is an inference-only op (int8 path); build training graphs in float`);
};

function noRule(n: Node, why: string): never {
  throw new RouterRetrieverError("UNSUPPORTED", `no gradient rule for ${n.op} (${n.outputs.map((o) => o.name).join(", ")}): ${why}`);
}

function intAttr(n: Node, name: string, fallback: number): number {
  const a = n.attrs[name];
  return a && "i" in a ? a.i : fallback;
}

/** The values of a constant int64 input (axes of Reduce*): rules need them at build time. */
function constInts(g: Graph, v: Value): number[] {
  const init = g.initializers.find((i) => i.value.id === v.id);
  if (!init || !(init.data instanceof BigInt64Array)) {
    throw new RouterRetrieverError("UNSUPPORTED", `gradient needs ${v.name} to be a constant int64 tensor (e.g. reduction axes)`);
  }
  return Array.from(init.data, Number);
}

/** x's shape as an int64 tensor: a constant when static (ORT folds it), else a Shape node. */
function shapeValue(g: Graph, x: Value): Value {
  return staticSize(x.shape) !== undefined ? g.constant(x.shape as number[], "int64") : shapeOf(g, x);
}

const reshapeTo = (g: Graph, v: Value, like: Value): Value => reshapeLike(g, v, shapeValue(g, like), like.shape);

/**
 * Sums `grad` (shaped like a broadcast result) back to the shape of `like`, the input that was
 * broadcast: over the leading axes `like` lacks, and over axes where `like` has 1 and the
 * result does not. Dims are compared as written (numbers or symbol names, equal when equal),
 * so a symbolic dim that is 1 at run time while the other side is not is not supported.
 */
export function unbroadcast(g: Graph, grad: Value, like: Value): Value {
  const lead = grad.shape.length - like.shape.length;
  if (lead < 0) throw new RouterRetrieverError("SHAPE_MISMATCH", `unbroadcast: gradient [${grad.shape}] has lower rank than [${like.shape}]`);
  const r = lead > 0 ? reduceSum(g, grad, Array.from({ length: lead }, (_, i) => i), false) : grad;
  const axes = like.shape.flatMap((d, i) => (d === 1 && r.shape[i] !== 1 ? [i] : []));
  return axes.length > 0 ? reduceSum(g, r, axes, true) : r;
}

/** ReduceSum/ReduceMean: put the reduced axes back (if dropped), then broadcast over them. */
function reduceGrad(g: Graph, n: Node, gy: Value, isMean: boolean): Grads {
  const x = n.inputs[0]!;
  const given = n.inputs[1] ? constInts(g, n.inputs[1]).map((a) => normAxis(a, x.shape.length)) : [];
  const axes = given.length > 0 ? [...given].sort((a, b) => a - b) : x.shape.map((_, i) => i); // no axes = all (ONNX)
  const kept = intAttr(n, "keepdims", 1) === 1 || axes.length === 0 ? gy : unsqueeze(g, gy, axes);
  const dx = expand(g, kept, shapeValue(g, x), x.shape);
  return [isMean ? div(g, dx, elementCount(g, x, axes, gy.dtype)) : dx, undefined];
}

/** How many elements of x each reduced output averages: static dims folded, symbolic ones read at run time. */
function elementCount(g: Graph, x: Value, axes: readonly number[], dtype: DType): Value {
  const staticPart = axes.reduce((p, a) => (typeof x.shape[a] === "number" ? p * (x.shape[a] as number) : p), 1);
  let count = g.constant(staticPart, dtype);
  for (const a of axes) {
    if (typeof x.shape[a] === "string") count = mul(g, count, cast(g, gather(g, shapeOf(g, x), g.constant(a, "int64")), dtype));
  }
  return count;
}

/**
 * Gather's gradient w.r.t. data: a scatter-add of gy rows into the gathered positions, done as
 * a matmul with a one-hot matrix [N, M] (N = data.shape[axis], M = number of indices), so it
 * needs only ops ONNX Runtime runs in float and double. Memory is N*M: fine for pooling
 * (CLS) and small tables, wasteful for a trained vocabulary. Negative indices are not handled.
 */
function gatherGrad(g: Graph, n: Node, gy: Value): Grads {
  const [data, idx] = [n.inputs[0]!, n.inputs[1]!];
  const ax = intAttr(n, "axis", 0);
  const q = staticSize(data.shape.slice(ax + 1));
  if (q === undefined) noRule(n, `dims after the gather axis must be static, data is [${data.shape}]`);
  const nDim = data.shape[ax]!;
  const positions = typeof nDim === "number"
    ? g.constant(Array.from({ length: nDim }, (_, i) => i), "int64")
    : range(g, g.constant(0, "int64"), gather(g, shapeOf(g, data), g.constant(ax, "int64")), g.constant(1, "int64"), nDim);
  const flatIdx = reshape(g, idx, [-1, 1]); // [M, 1]
  const oneHot = cast(g, equal(g, flatIdx, positions), gy.dtype); // [M, N]: 1 where index m picks position j
  const rows = reshape(g, gy, [...Array<number>(ax).fill(0), -1, q]); // [...pre, M, q]
  return [reshapeTo(g, matmul(g, transposeLast2(g, oneHot), rows), data), undefined]; // [...pre, N, q] -> data
}

/** LayerNormalization over the last axis, from the saved Mean and InvStdDev outputs. */
const layerNormGrad: VjpRule = (g, n, [gy, gMean, gInvStd]) => {
  if (gMean || gInvStd) noRule(n, "gradients through the Mean/InvStdDev outputs are not implemented");
  if (!gy) throw new RouterRetrieverError("INTERNAL", "LayerNormalization: no output gradient");
  const [x, w, b] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2]!];
  if (normAxis(intAttr(n, "axis", -1), x.shape.length) !== x.shape.length - 1) noRule(n, "only axis -1 is implemented");
  // The saved statistics are float32 (ONNX stash_type); cast when x is float64.
  const [mean, invStd] = [n.outputs[1]!, n.outputs[2]!].map((s) => (s.dtype === x.dtype ? s : cast(g, s, x.dtype))) as [Value, Value];
  const xhat = mul(g, sub(g, x, mean), invStd);
  const dxhat = mul(g, gy, w);
  // dx = invStd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), means over the normalised axis.
  const centred = sub(g, sub(g, dxhat, reduceMean(g, dxhat, [-1], true)), mul(g, xhat, reduceMean(g, mul(g, dxhat, xhat), [-1], true)));
  return [mul(g, invStd, centred), unbroadcast(g, mul(g, gy, xhat), w), unbroadcast(g, gy, b)];
};

/** Max: the gradient goes to the larger input (to `a` on ties). */
function maxGrad(g: Graph, n: Node, gy: Value): Grads {
  const [a, b] = [n.inputs[0]!, n.inputs[1]!];
  const aWins = equal(g, n.outputs[0]!, a);
  const zero = scalarLike(g, gy, 0);
  return [unbroadcast(g, where(g, aWins, gy, zero), a), unbroadcast(g, where(g, aWins, zero, gy), b)];
}

function inversePerm(perm: readonly number[]): number[] {
  const inv: number[] = [];
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

const perm = (n: Node): readonly number[] => {
  const a = n.attrs.perm;
  return a && "ints" in a ? a.ints : n.inputs[0]!.shape.map((_, i, s) => s.length - 1 - i); // ONNX default: reverse
};

const inp = (n: Node, i: number): Value => n.inputs[i]!;
const out = (n: Node): Value => n.outputs[0]!;

export const VJP: Readonly<Record<OpType, VjpRule>> = {
  Add: single((g, n, gy) => [unbroadcast(g, gy, inp(n, 0)), unbroadcast(g, gy, inp(n, 1))]),
  Sub: single((g, n, gy) => [unbroadcast(g, gy, inp(n, 0)), unbroadcast(g, neg(g, gy), inp(n, 1))]),
  Mul: single((g, n, gy) => [unbroadcast(g, mul(g, gy, inp(n, 1)), inp(n, 0)), unbroadcast(g, mul(g, gy, inp(n, 0)), inp(n, 1))]),
  // d(a/b)/db = -a/b^2 = -y/b
  Div: single((g, n, gy) => [unbroadcast(g, div(g, gy, inp(n, 1)), inp(n, 0)), unbroadcast(g, neg(g, div(g, mul(g, gy, out(n)), inp(n, 1))), inp(n, 1))]),
  Max: single(maxGrad),
  // erf'(x) = 2/sqrt(pi) exp(-x^2)
  Erf: single((g, n, gy) => [mul(g, gy, scale(g, exp(g, neg(g, mul(g, inp(n, 0), inp(n, 0)))), 2 / Math.sqrt(Math.PI)))]),
  Exp: single((g, n, gy) => [mul(g, gy, out(n))]),
  Log: single((g, n, gy) => [div(g, gy, inp(n, 0))]),
  Sqrt: single((g, n, gy) => [div(g, scale(g, gy, 0.5), out(n))]),
  Neg: single((g, _n, gy) => [neg(g, gy)]),
  // tanh' = 1 - y^2
  Tanh: single((g, n, gy) => [mul(g, gy, sub(g, scalarLike(g, gy, 1), mul(g, out(n), out(n))))]),
  Identity: single((_g, _n, gy) => [gy]),
  // dA = dY B^T, dB = A^T dY, each summed over the batch dims its operand was broadcast along.
  MatMul: single((g, n, gy) => [
    unbroadcast(g, matmul(g, gy, transposeLast2(g, inp(n, 1))), inp(n, 0)),
    unbroadcast(g, matmul(g, transposeLast2(g, inp(n, 0)), gy), inp(n, 1)),
  ]),
  Gather: single(gatherGrad),
  Reshape: single((g, n, gy) => [reshapeTo(g, gy, inp(n, 0)), undefined]),
  Unsqueeze: single((g, n, gy) => [reshapeTo(g, gy, inp(n, 0)), undefined]),
  Transpose: single((g, n, gy) => [transpose(g, gy, inversePerm(perm(n)))]),
  Expand: single((g, n, gy) => [unbroadcast(g, gy, inp(n, 0)), undefined]),
  // dx = y * (gy - sum(gy * y)) along the softmax axis
  Softmax: single((g, n, gy) => {
    const gyY = mul(g, gy, out(n));
    return [sub(g, gyY, mul(g, out(n), reduceSum(g, gyY, [intAttr(n, "axis", -1)], true)))];
  }),
  // dx = gy - softmax(x) * sum(gy), and softmax(x) = exp(y)
  LogSoftmax: single((g, n, gy) => [sub(g, gy, mul(g, exp(g, out(n)), reduceSum(g, gy, [intAttr(n, "axis", -1)], true)))]),
  LayerNormalization: layerNormGrad,
  ReduceSum: single((g, n, gy) => reduceGrad(g, n, gy, false)),
  ReduceMean: single((g, n, gy) => reduceGrad(g, n, gy, true)),
  // float -> float passes the gradient through (cast back); to or from integers there is none.
  Cast: single((g, n, gy) => [isFloat(inp(n, 0).dtype) && isFloat(out(n).dtype) ? cast(g, gy, inp(n, 0).dtype) : undefined]),
  Where: single((g, n, gy) => {
    const zero = scalarLike(g, gy, 0);
    return [undefined, unbroadcast(g, where(g, inp(n, 0), gy, zero), inp(n, 1)), unbroadcast(g, where(g, inp(n, 0), zero, gy), inp(n, 2))];
  }),
  Equal: none,
  Shape: none,
  Range: none,
  DynamicQuantizeLinear: inferenceOnly,
  QuantizeLinear: inferenceOnly,
  // Per-row activation quantisation (ops.quantizeRows) is inference-only too.
  Abs: inferenceOnly,
  ReduceMax: inferenceOnly,
  MatMulInteger: inferenceOnly,
  DynamicQuantizeMatMul: inferenceOnly,
  MatMulIntegerToFloat: inferenceOnly,
  MultiHeadAttention: inferenceOnly,
  SkipLayerNormalization: inferenceOnly,
  BiasGelu: inferenceOnly,
};
