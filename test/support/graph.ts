/**
 * Test helpers for the graph IR: a seeded PRNG and a finite-difference gradient check that
 * runs the generated backward graph through ONNX Runtime and compares it, element by element,
 * with central differences of the same graph's loss.
 */
import { gradients } from "../../src/graph/autodiff.js";
import { Graph, type DType, type NumericArray, type Shape, type Value } from "../../src/graph/ir.js";
import { cast, mul, reduceSum } from "../../src/graph/ops.js";
import { CompiledGraph, type Feed } from "../../src/graph/session.js";

export { rng, uniform } from "../../src/util/random.js";
import { rng, uniform } from "../../src/util/random.js";


export interface CheckInput {
  readonly name: string;
  /** Concrete dims fed at run time. */
  readonly dims: readonly number[];
  /** Dims declared in the graph (defaults to `dims`); use names to exercise symbolic shapes. */
  readonly shape?: Shape;
  /** Defaults to the check's float dtype. */
  readonly dtype?: DType;
  /** Fixed data (indices, masks); otherwise uniform in `range`. */
  readonly data?: readonly number[];
  readonly range?: readonly [number, number];
  /** Differentiate w.r.t. this input. */
  readonly target?: boolean;
}

export interface Tolerance {
  /** Finite-difference step, absolute and relative tolerance. */
  readonly h: number;
  readonly atol: number;
  readonly rtol: number;
}

export interface GradCheck extends Tolerance {
  readonly dtype: "float32" | "float64";
  readonly inputs: readonly CheckInput[];
  /** Builds the function under test from the graph inputs (in `inputs` order). */
  readonly build: (g: Graph, xs: Value[]) => Value;
  readonly seed?: number;
}

export interface GradCheckResult {
  /** One line per element outside tolerance (empty = pass). */
  readonly mismatches: string[];
  readonly checked: number;
  /** Largest |analytic - numeric| / (atol + rtol * |numeric|) seen; < 1 passes. */
  readonly worst: number;
  /** Number of nodes `gradients` appended. */
  readonly backwardNodes: number;
}

function toArray(dtype: DType, xs: readonly number[]): NumericArray | Uint8Array {
  if (dtype === "float64") return Float64Array.from(xs);
  if (dtype === "float32") return Float32Array.from(xs);
  if (dtype === "int64") return BigInt64Array.from(xs, (x) => BigInt(x));
  return Uint8Array.from(xs);
}

/** Checks the gradients of one op or small function of freshly declared inputs. */
export async function gradCheck(c: GradCheck): Promise<GradCheckResult> {
  const rand = rng(c.seed ?? 1);
  const feeds: Record<string, Feed> = {};
  for (const i of c.inputs) {
    const n = i.dims.reduce((a, b) => a * b, 1);
    feeds[i.name] = { data: toArray(i.dtype ?? c.dtype, i.data ?? uniform(rand, n, ...(i.range ?? [-1, 1]))), dims: i.dims };
  }
  const make = (): { graph: Graph; output: Value } => {
    const graph = new Graph();
    const xs = c.inputs.map((i) => graph.input(i.name, i.dtype ?? c.dtype, i.shape ?? i.dims));
    return { graph, output: c.build(graph, xs) };
  };
  const targets = c.inputs.filter((i) => i.target).map((i) => i.name);
  return gradCheckGraph(make, feeds, targets, c, rand);
}

/**
 * loss = sum(output * W) with fixed random W (so every output element matters), computed in
 * float64 even for float32 graphs (the output is cast up first) so that float32 rounding
 * enters only through the function itself. Compares gradients(g, loss, targets) with central
 * differences (L(x+h) - L(x-h)) / 2h, element by element, for the named float inputs.
 * `make` is called twice: once to learn the output's concrete dims (to size W).
 */
export async function gradCheckGraph(
  make: () => { graph: Graph; output: Value },
  feeds: Readonly<Record<string, Feed>>,
  targetNames: readonly string[],
  tol: Tolerance,
  rand: () => number = rng(7),
): Promise<GradCheckResult> {
  const probe = make();
  if (!probe.graph.outputs.includes(probe.output)) probe.graph.output(probe.output);
  const cp = await CompiledGraph.create(probe.graph);
  const outDims = (await cp.run(feeds, [probe.output]))[probe.output.name]!.dims;
  await cp.release();

  const { graph: g, output } = make();
  const y = output.dtype === "float64" ? output : cast(g, output, "float64");
  const size = outDims.reduce((a, b) => a * b, 1);
  const w = g.initializer("loss_weights", { shape: [...outDims], data: Float64Array.from(uniform(rand, size)) });
  const loss = reduceSum(g, mul(g, y, w), y.shape.map((_, i) => i));
  const targets = targetNames.map((name) => g.inputs.find((v) => v.name === name)!);
  const before = g.nodes.length;
  const grads = gradients(g, loss, targets);
  const backwardNodes = g.nodes.length - before;
  g.output(loss);
  for (const t of targets) g.output(grads.get(t.id)!);
  const cg = await CompiledGraph.create(g);

  const analytic = await cg.run(feeds);
  const lossAt = async (name: string, x: Float32Array | Float64Array): Promise<number> =>
    Number((await cg.run({ ...feeds, [name]: { data: x, dims: feeds[name]!.dims } }, [loss]))[loss.name]!.data[0]);

  const mismatches: string[] = [];
  let checked = 0;
  let worst = 0;
  for (const t of targets) {
    const x = feeds[t.name]!.data as Float32Array | Float64Array;
    const got = analytic[grads.get(t.id)!.name]!.data;
    for (let i = 0; i < x.length; i++) {
      const plus = x.slice();
      const minus = x.slice();
      plus[i] = x[i]! + tol.h;
      minus[i] = x[i]! - tol.h;
      // Divide by the step actually taken: x +- h rounds to the array's precision.
      const numeric = ((await lossAt(t.name, plus)) - (await lossAt(t.name, minus))) / (plus[i]! - minus[i]!);
      const a = Number(got[i]);
      const ratio = Math.abs(a - numeric) / (tol.atol + tol.rtol * Math.abs(numeric));
      worst = Math.max(worst, ratio);
      checked++;
      if (!(ratio <= 1)) mismatches.push(`${t.name}[${i}]: analytic ${a}, numeric ${numeric}`);
    }
  }
  await cg.release();
  return { mismatches, checked, worst, backwardNodes };
}
