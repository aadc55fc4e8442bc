/**
 * Compiles a Graph into an onnxruntime-node session and runs it with plain typed arrays.
 * The only module that talks to ONNX Runtime directly.
 */
import * as ort from "onnxruntime-node";
import type { Graph, NumericArray, Value } from "./ir.js";
import { emitOnnx } from "./onnx.js";

export interface SessionOptions {
  /** Intra-op threads; 0 lets ORT decide. Small batches often run faster on 1. */
  readonly threads?: number;
}

export interface Feed {
  readonly data: NumericArray | Uint8Array;
  readonly dims: readonly number[];
}

export interface Fetched {
  readonly data: NumericArray;
  readonly dims: readonly number[];
}

export class CompiledGraph {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  static async create(graph: Graph, opts: SessionOptions = {}): Promise<CompiledGraph> {
    const session = await ort.InferenceSession.create(emitOnnx(graph), {
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
    });
    return new CompiledGraph(session, graph.inputs.map((v) => v.name), graph.outputs.map((v) => v.name));
  }

  /** Runs with feeds keyed by input name; returns outputs keyed by output name. */
  async run(feeds: Readonly<Record<string, Feed>>, fetch?: readonly (Value | string)[]): Promise<Record<string, Fetched>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      ortFeeds[name] = new ort.Tensor(tensorType(f.data), f.data, [...f.dims]);
    }
    const names = fetch?.map((v) => (typeof v === "string" ? v : v.name));
    const res = names ? await this.session.run(ortFeeds, names) : await this.session.run(ortFeeds);
    const out: Record<string, Fetched> = {};
    for (const [name, t] of Object.entries(res)) {
      out[name] = { data: t.data as NumericArray, dims: t.dims };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function tensorType(data: NumericArray | Uint8Array): "float32" | "float64" | "int64" | "bool" {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof BigInt64Array) return "int64";
  return "bool";
}
