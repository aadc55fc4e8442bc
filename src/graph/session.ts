/**
 * Compiles a Graph into an onnxruntime-node session and runs it with plain typed arrays.
 * The only module that talks to ONNX Runtime directly.
 *
 * onnxruntime-node runs a session on the JS thread that calls `run` (the promise settles after
 * a synchronous run), so one process uses more than one core only through ORT's intra-op
 * threads, or through several sessions on worker threads: `sessions: N > 1` gives N copies of
 * the session, each on its own worker thread, and runs go to whichever is idle (in the order
 * they were asked for), so N callers, or one caller with N runs in flight, use N cores at once
 * while the JS thread stays free.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { RouterRetrieverError } from "../errors.js";
import type { Graph, NumericArray, Value } from "./ir.js";
import { emitOnnx } from "./onnx.js";

export interface SessionOptions {
  /** Intra-op threads per session; 0 lets ORT decide. Small batches often run faster on 1. */
  readonly threads?: number;
  /** Parallel copies of the session, each on a worker thread (default 1: one, on the calling thread). */
  readonly sessions?: number;
}

export interface Feed {
  readonly data: NumericArray | Uint8Array;
  readonly dims: readonly number[];
}

export interface Fetched {
  readonly data: NumericArray;
  readonly dims: readonly number[];
}

/** What runs a compiled graph: one session on this thread, or a pool of worker sessions. */
interface Runner {
  run(feeds: Readonly<Record<string, Feed>>, names: readonly string[] | undefined): Promise<Record<string, Fetched>>;
  release(): Promise<void>;
}

export class CompiledGraph {
  private constructor(
    private readonly runner: Runner,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    /** Sessions that can run at once (SessionOptions.sessions). */
    readonly parallelism: number,
  ) {}

  static async create(graph: Graph, opts: SessionOptions = {}): Promise<CompiledGraph> {
    const sessions = opts.sessions ?? 1;
    if (!Number.isInteger(sessions) || sessions < 1) throw new RouterRetrieverError("BAD_INPUT", `sessions must be a positive integer, got ${sessions}`);
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
    };
    const model = emitOnnx(graph);
    const runner = sessions === 1 ? await InlineRunner.create(model, options) : await WorkerPool.create(model, options, sessions);
    return new CompiledGraph(runner, graph.inputs.map((v) => v.name), graph.outputs.map((v) => v.name), sessions);
  }

  /** Runs with feeds keyed by input name; returns outputs keyed by output name. */
  run(feeds: Readonly<Record<string, Feed>>, fetch?: readonly (Value | string)[]): Promise<Record<string, Fetched>> {
    return this.runner.run(feeds, fetch?.map((v) => (typeof v === "string" ? v : v.name)));
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

type TensorType = "float32" | "float64" | "int64" | "bool";

function tensorType(data: NumericArray | Uint8Array): TensorType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof BigInt64Array) return "int64";
  return "bool";
}

class InlineRunner implements Runner {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(model: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<InlineRunner> {
    return new InlineRunner(await ort.InferenceSession.create(model, options));
  }

  async run(feeds: Readonly<Record<string, Feed>>, names: readonly string[] | undefined): Promise<Record<string, Fetched>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(tensorType(f.data), f.data, [...f.dims]);
    const res = names ? await this.session.run(ortFeeds, [...names]) : await this.session.run(ortFeeds);
    const out: Record<string, Fetched> = {};
    for (const [name, t] of Object.entries(res)) out[name] = { data: t.data as NumericArray, dims: t.dims };
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * A worker's whole program (CommonJS, evaluated, so it runs the same under tsx, vitest and the
 * compiled package): one ORT session, one run per message, outputs transferred back.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const ort = require(workerData.ortPath);
let session;
ort.InferenceSession.create(workerData.model, workerData.options).then(
  (s) => { session = s; parentPort.postMessage({ ready: true }); },
  (e) => parentPort.postMessage({ ready: false, error: String((e && e.message) || e) }),
);
parentPort.on("message", async (m) => {
  try {
    const feeds = {};
    for (const [name, f] of Object.entries(m.feeds)) feeds[name] = new ort.Tensor(f.type, f.data, f.dims);
    const res = m.names ? await session.run(feeds, m.names) : await session.run(feeds);
    const out = {};
    const transfer = new Set();
    for (const [name, t] of Object.entries(res)) {
      out[name] = { data: t.data, dims: t.dims };
      transfer.add(t.data.buffer);
    }
    parentPort.postMessage({ out }, [...transfer]);
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
});
`;

interface Job {
  readonly message: { feeds: Record<string, { type: TensorType; data: Feed["data"]; dims: readonly number[] }>; names: readonly string[] | undefined };
  resolve(out: Record<string, Fetched>): void;
  reject(err: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
  /** Settles when the job in flight does. */
  done: Promise<void> | undefined;
}

type WorkerReply = { ready: true } | { ready: false; error: string } | { out: Record<string, Fetched> } | { error: string };

class WorkerPool implements Runner {
  private readonly waiting: Job[] = [];
  private broken: Error | undefined;
  private released = false;

  private constructor(private readonly slots: Slot[]) {
    for (const slot of slots) {
      slot.worker.on("message", (m: WorkerReply) => this.settle(slot, m));
      slot.worker.on("error", (err) => this.fail(err));
      slot.worker.on("exit", (code) => {
        if (!this.released) this.fail(new Error(`an ONNX Runtime worker thread exited (code ${code})`));
      });
    }
  }

  static async create(model: Uint8Array, options: ort.InferenceSession.SessionOptions, n: number): Promise<WorkerPool> {
    const ortPath = createRequire(import.meta.url).resolve("onnxruntime-node");
    const workers = Array.from({ length: n }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath, model, options } }));
    const ready = workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once("message", (m: WorkerReply) => ("ready" in m && m.ready ? resolve() : reject(new Error(`ONNX Runtime worker: ${"error" in m ? m.error : "no session"}`))));
          w.once("error", reject);
        }),
    );
    try {
      await Promise.all(ready);
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    for (const w of workers) w.unref();
    return new WorkerPool(workers.map((worker) => ({ worker, job: undefined, done: undefined })));
  }

  run(feeds: Readonly<Record<string, Feed>>, names: readonly string[] | undefined): Promise<Record<string, Fetched>> {
    if (this.released) return Promise.reject(new RouterRetrieverError("CONFLICT", "this ONNX session pool was released"));
    if (this.broken) return Promise.reject(this.broken);
    const message: Job["message"] = { feeds: {}, names };
    for (const [name, f] of Object.entries(feeds)) message.feeds[name] = { type: tensorType(f.data), data: f.data, dims: f.dims };
    return new Promise((resolve, reject) => {
      this.waiting.push({ message, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.waiting.length === 0) return;
      if (slot.job) continue;
      const job = this.waiting.shift()!;
      let settled!: () => void;
      slot.done = new Promise<void>((r) => (settled = r));
      slot.job = { message: job.message, resolve: (o) => (settled(), job.resolve(o)), reject: (e) => (settled(), job.reject(e)) };
      // A worker with a run in flight keeps the process alive; an idle one does not.
      slot.worker.ref();
      slot.worker.postMessage(job.message);
    }
  }

  private settle(slot: Slot, m: WorkerReply): void {
    const job = slot.job;
    if (!job || "ready" in m) return;
    slot.job = undefined;
    slot.done = undefined;
    slot.worker.unref();
    if ("out" in m) job.resolve(m.out);
    else job.reject(new Error(m.error));
    this.dispatch();
  }

  private fail(err: unknown): void {
    this.broken ??= err instanceof Error ? err : new Error(String(err));
    for (const slot of this.slots) {
      slot.job?.reject(this.broken);
      slot.job = undefined;
    }
    for (const job of this.waiting.splice(0)) job.reject(this.broken);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    for (const job of this.waiting.splice(0)) job.reject(new RouterRetrieverError("CONFLICT", "this ONNX session pool was released"));
    // Runs already in a worker finish first (as an inline run in progress would).
    await Promise.all(this.slots.map((s) => s.done));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
