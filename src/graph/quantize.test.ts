/**
 * The int8 building blocks against plain JS arithmetic: per-channel weight quantisation, and the
 * per-row activation codes (ops.quantizeRows) run through ONNX Runtime's integer GEMM
 * (ops.rowQuantizedMatMul), which must equal the integer dot products of the codes, rescaled by
 * row and column scales.
 */
import { describe, expect, it } from "vitest";
import { Graph } from "./ir.js";
import * as op from "./ops.js";
import { quantizePerOutputChannel } from "./quantize.js";
import { CompiledGraph } from "./session.js";
import { rng, uniform } from "../util/random.js";

const IN = 24;
const OUT = 10;

/** Round half to even (ONNX Round), so the reference rounds as the graph does. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

describe("quantizePerOutputChannel", () => {
  it("maps each output channel's largest |w| to 127 and stores the transpose", () => {
    const w = Float32Array.from([1, -2, 0.5, /* row 2 */ 0, 0, 0]);
    const q = quantizePerOutputChannel(w, 2, 3);
    expect([...q.scale]).toEqual([2 / 127, 1].map(Math.fround));
    // [in, out] layout: column 0 is row 0 of w.
    expect([...q.data]).toEqual([64, 0, -127, 0, 32, 0]);
  });
});

describe("quantizeRows + rowQuantizedMatMul", () => {
  async function run(x: Float32Array, rows: number): Promise<{ codes: Uint8Array; y: Float32Array; wq: ReturnType<typeof quantizePerOutputChannel> }> {
    const w = Float32Array.from(uniform(rng(7), OUT * IN, -1, 1));
    const wq = quantizePerOutputChannel(w, OUT, IN);
    const g = new Graph();
    const xin = g.input("x", "float32", ["n", IN]);
    const codes = op.quantizeRows(g, xin);
    const B = g.initializer("wq", { shape: [IN, OUT], data: wq.data });
    const S = g.initializer("ws", { shape: [OUT], data: wq.scale });
    g.output(codes.y);
    g.output(op.rowQuantizedMatMul(g, xin, codes, B, S));
    const s = await CompiledGraph.create(g);
    try {
      const out = await s.run({ x: { data: x, dims: [rows, IN] } });
      const [codesName, yName] = s.outputNames;
      return { codes: out[codesName!]!.data as unknown as Uint8Array, y: out[yName!]!.data as Float32Array, wq };
    } finally {
      await s.release();
    }
  }

  it("gives each row its own symmetric range, and the integer GEMM of the codes rescaled", async () => {
    const rows = 3;
    const x = Float32Array.from(uniform(rng(1), rows * IN, -1, 1));
    for (let i = 0; i < IN; i++) x[2 * IN + i] = x[2 * IN + i]! * 50; // a row with a much wider range
    const { codes, y, wq } = await run(x, rows);
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * IN, (r + 1) * IN);
      const scale = Math.fround(Math.fround(Math.max(...row.map(Math.abs))) * Math.fround(1 / 127));
      const want = [...row].map((v) => roundEven(Math.fround(v / scale)) + 128);
      expect([...codes.subarray(r * IN, (r + 1) * IN)], `row ${r} codes`).toEqual(want);
      expect(Math.max(...want.map((c) => Math.abs(c - 128)))).toBe(127);
      for (let o = 0; o < OUT; o++) {
        let acc = 0;
        for (let i = 0; i < IN; i++) acc += (want[i]! - 128) * wq.data[i * OUT + o]!;
        expect(y[r * OUT + o]!, `row ${r} col ${o}`).toBeCloseTo(acc * wq.scale[o]! * scale, 4);
      }
    }
  });

  it("codes a row the same whatever else is in the batch", async () => {
    const x = Float32Array.from(uniform(rng(2), 2 * IN, -1, 1));
    const alone = await run(x.slice(0, IN), 1);
    const wide = x.slice();
    for (let i = IN; i < 2 * IN; i++) wide[i] = wide[i]! * 1000;
    const together = await run(wide, 2);
    expect([...together.codes.subarray(0, IN)]).toEqual([...alone.codes]);
    expect([...together.y.subarray(0, OUT)]).toEqual([...alone.y]);
  });

  it("codes an all-zero row as the zero point, without NaN", async () => {
    const { codes, y } = await run(new Float32Array(IN), 1);
    expect([...codes]).toEqual(new Array(IN).fill(128));
    expect([...y].every((v) => v === 0)).toBe(true);
  });

  it("keeps the leading dims of a [batch, seq, in] input", async () => {
    const w = Float32Array.from(uniform(rng(7), OUT * IN, -1, 1));
    const wq = quantizePerOutputChannel(w, OUT, IN);
    const g = new Graph();
    const xin = g.input("x", "float32", ["batch", "seq", IN]);
    const B = g.initializer("wq", { shape: [IN, OUT], data: wq.data });
    const S = g.initializer("ws", { shape: [OUT], data: wq.scale });
    g.output(op.rowQuantizedMatMul(g, xin, op.quantizeRows(g, xin), B, S));
    const s = await CompiledGraph.create(g);
    try {
      const x = Float32Array.from(uniform(rng(4), 2 * 3 * IN, -1, 1));
      const out = (await s.run({ x: { data: x, dims: [2, 3, IN] } }))[s.outputNames[0]!]!;
      expect(out.dims).toEqual([2, 3, OUT]);
      const flat = await run(x, 6);
      expect([...(out.data as Float32Array)]).toEqual([...flat.y]);
    } finally {
      await s.release();
    }
  });
});
