/**
 * Parallel sessions (SessionOptions.sessions > 1): copies of one graph on worker threads. They
 * must answer exactly as the session on the calling thread does, each run with its own
 * outputs however many are in flight, pass ONNX Runtime's errors on without breaking the pool,
 * and refuse work once released.
 */
import { describe, expect, it } from "vitest";
import { Graph } from "./ir.js";
import * as op from "./ops.js";
import { CompiledGraph } from "./session.js";
import { rng, uniform } from "../util/random.js";

/** y = tanh(x W) summed over the last axis, with "n" rows: cheap, but a real ORT graph. */
function smallGraph(): Graph {
  const g = new Graph();
  const x = g.input("x", "float32", ["n", 16]);
  const w = g.initializer("w", { shape: [16, 8], data: Float32Array.from(uniform(rng(3), 128, -1, 1)) });
  const h = op.tanh(g, op.matmul(g, x, w));
  g.output(h);
  g.output(op.reduceSum(g, h, [1]));
  return g;
}

const feedFor = (seed: number, rows: number) => ({ x: { data: Float32Array.from(uniform(rng(seed), rows * 16, -1, 1)), dims: [rows, 16] } });

describe("CompiledGraph with parallel sessions", () => {
  it("answers as the inline session does, each of many runs in flight getting its own outputs", async () => {
    const inline = await CompiledGraph.create(smallGraph());
    const pool = await CompiledGraph.create(smallGraph(), { sessions: 2 });
    try {
      expect(inline.parallelism).toBe(1);
      expect(pool.parallelism).toBe(2);
      const seeds = Array.from({ length: 12 }, (_, i) => i + 1);
      const expected: Awaited<ReturnType<CompiledGraph["run"]>>[] = [];
      for (const s of seeds) expected.push(await inline.run(feedFor(s, s)));
      const got = await Promise.all(seeds.map((s) => pool.run(feedFor(s, s))));
      got.forEach((out, i) => {
        expect(Object.keys(out).sort()).toEqual(Object.keys(expected[i]!).sort());
        for (const name of Object.keys(out)) {
          expect(out[name]!.dims).toEqual(expected[i]![name]!.dims);
          expect(Array.from(out[name]!.data as Float32Array)).toEqual(Array.from(expected[i]![name]!.data as Float32Array));
        }
      });
      // Fetching one output by name works through the pool too.
      const one = await pool.run(feedFor(5, 5), [inline.outputNames[1]!]);
      expect(Object.keys(one)).toEqual([inline.outputNames[1]]);
    } finally {
      await inline.release();
      await pool.release();
    }
  });

  it("passes ONNX Runtime's error on, and keeps serving other runs", async () => {
    const pool = await CompiledGraph.create(smallGraph(), { sessions: 2 });
    try {
      const bad = pool.run({ x: { data: new Float32Array(10), dims: [1, 10] } });
      const good = pool.run(feedFor(1, 3));
      await expect(bad).rejects.toThrow(/x|dimension|shape/i);
      expect((await good)[pool.outputNames[0]!]!.dims).toEqual([3, 8]);
      expect((await pool.run(feedFor(2, 4)))[pool.outputNames[0]!]!.dims).toEqual([4, 8]);
    } finally {
      await pool.release();
    }
  });

  it("finishes runs in flight on release, then refuses new ones", async () => {
    const pool = await CompiledGraph.create(smallGraph(), { sessions: 2 });
    const inFlight = [pool.run(feedFor(1, 2)), pool.run(feedFor(2, 2))];
    await pool.release();
    expect((await Promise.all(inFlight)).length).toBe(2);
    await expect(pool.run(feedFor(3, 2))).rejects.toThrow(/released/);
  });

  it("refuses a session count that is not a positive integer", async () => {
    await expect(CompiledGraph.create(smallGraph(), { sessions: 0 })).rejects.toThrow(/sessions must be a positive integer/);
  });
});
