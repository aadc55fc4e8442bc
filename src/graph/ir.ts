/**
 * A small compute-graph IR: typed values with (possibly symbolic) shapes, and nodes that are
 * ONNX operators. Models are written once against this IR; `emitOnnx` turns a graph into an
 * ONNX model for onnxruntime-node, and `autodiff` appends backward nodes to the same graph.
 *
 * Shapes are inferred when a node is added, so a wrong shape fails where it is written, not
 * deep inside ONNX Runtime. Symbolic dims are strings ("batch", "seq"); two equal strings
 * are the same size.
 */
import { RouterRetrieverError } from "../errors.js";

export type DType = "float32" | "float64" | "int64" | "bool" | "int8" | "uint8" | "int32";
export type NumericArray = Float32Array | Float64Array | BigInt64Array;
/** What an initializer may hold: the numeric arrays plus int8 weights (quantised inference). */
export type InitializerData = NumericArray | Int8Array | Uint8Array;
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface Value {
  readonly id: number;
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

/** ONNX attribute values, tagged so that 1 (INT) and 1.0 (FLOAT) stay distinct. */
export type Attr =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly ints: readonly number[] }
  | { readonly s: string };

export type OpType =
  | "Add" | "Sub" | "Mul" | "Div" | "Max"
  | "Erf" | "Exp" | "Log" | "Sqrt" | "Neg" | "Tanh" | "Abs"
  | "MatMul" | "Gather" | "Reshape" | "Transpose" | "Unsqueeze" | "Shape" | "Expand"
  | "Softmax" | "LogSoftmax" | "LayerNormalization"
  | "ReduceSum" | "ReduceMean" | "ReduceMax" | "Cast" | "Identity" | "Where" | "Equal" | "Range"
  // Inference-only ops (no gradient rule): ONNX's integer GEMM and ONNX Runtime's com.microsoft kernels.
  | "DynamicQuantizeLinear" | "QuantizeLinear" | "MatMulInteger"
  | "DynamicQuantizeMatMul" | "MatMulIntegerToFloat"
  // Fused inference kernels (com.microsoft), also without gradient rules.
  | "MultiHeadAttention" | "SkipLayerNormalization" | "BiasGelu";

/** Ops from ONNX Runtime's contrib domain: emitted with domain "com.microsoft". */
export const MS_DOMAIN_OPS: ReadonlySet<OpType> = new Set<OpType>([
  "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MultiHeadAttention", "SkipLayerNormalization", "BiasGelu",
]);

export interface Node {
  readonly op: OpType;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

export interface Initializer {
  readonly value: Value;
  readonly data: InitializerData;
}

/** Row-major tensor data with its shape: what initializers and constants hold. */
export interface TensorData {
  readonly shape: readonly number[];
  readonly data: InitializerData;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers: Initializer[] = [];
  /** The node that produced each value (absent for inputs and initializers). */
  readonly producer = new Map<number, Node>();
  private nextId = 0;
  private readonly names = new Set<string>();

  newValue(dtype: DType, shape: Shape, name?: string): Value {
    const id = this.nextId++;
    const n = name ?? `v${id}`;
    if (this.names.has(n)) throw new RouterRetrieverError("BAD_INPUT", `graph value name used twice: ${n}`);
    this.names.add(n);
    return { id, name: n, dtype, shape };
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.newValue(dtype, shape, name);
    this.inputs.push(v);
    return v;
  }

  initializer(name: string, t: TensorData): Value {
    const dtype: DType = t.data instanceof Float32Array ? "float32" : t.data instanceof Float64Array ? "float64" : t.data instanceof Int8Array ? "int8" : t.data instanceof Uint8Array ? "uint8" : "int64";
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new RouterRetrieverError("SHAPE_MISMATCH", `initializer ${name}: shape [${t.shape}] needs ${size} values, got ${t.data.length}`);
    }
    const v = this.newValue(dtype, t.shape, name);
    this.initializers.push({ value: v, data: t.data });
    return v;
  }

  /** A scalar or small constant, stored as an initializer. */
  constant(values: number | readonly number[], dtype: DType = "float32", shape?: readonly number[]): Value {
    const arr = typeof values === "number" ? [values] : values;
    const s = shape ?? (typeof values === "number" ? [] : [arr.length]);
    const data =
      dtype === "int64" ? BigInt64Array.from(arr, (x) => BigInt(x))
      : dtype === "float64" ? Float64Array.from(arr)
      : dtype === "uint8" ? Uint8Array.from(arr)
      : dtype === "int8" ? Int8Array.from(arr)
      : Float32Array.from(arr);
    return this.initializer(`c${this.nextId}`, { shape: s, data });
  }

  output(v: Value): void {
    this.outputs.push(v);
  }

  add(op: OpType, inputs: readonly Value[], outs: ReadonlyArray<{ dtype: DType; shape: Shape }>, attrs: Record<string, Attr> = {}): Value[] {
    const outputs = outs.map((o) => this.newValue(o.dtype, o.shape));
    const node: Node = { op, inputs, outputs, attrs };
    this.nodes.push(node);
    for (const o of outputs) this.producer.set(o.id, node);
    return outputs;
  }
}

/** Numpy-style broadcast of two shapes; symbolic dims broadcast against 1 and equal names. */
export function broadcastShapes(a: Shape, b: Shape, what: string): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else if (typeof da === "string" || typeof db === "string") out.push(typeof da === "number" ? da : db);
    else throw new RouterRetrieverError("SHAPE_MISMATCH", `${what}: cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

export function staticSize(shape: Shape): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return undefined;
    n *= d;
  }
  return n;
}
