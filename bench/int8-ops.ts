/**
 * Integer GEMM variants on this CPU, GFLOP/s: fp32 MatMul+Add, com.microsoft DynamicQuantizeMatMul,
 * DynamicQuantizeLinear+MatMulIntegerToFloat, DynamicQuantizeLinear+MatMulInteger+Cast+Mul.
 *
 *   npx tsx bench/int8-ops.ts
 */
import { performance } from "node:perf_hooks";
import { Graph, type Value } from "../src/graph/ir.js";
import * as op from "../src/graph/ops.js";
import { CompiledGraph } from "../src/graph/session.js";
import { quantizePerOutputChannel } from "../src/graph/quantize.js";

type Variant = "fp32" | "dqmm" | "dql+mmitf" | "dql+mmi";
async function bench(v: Variant, m: number, k: number, n: number, threads: number): Promise<number> {
  const g = new Graph();
  const x = g.input("x", "float32", [m, k]);
  const wf = Float32Array.from({ length: k * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const bias = g.initializer("bias", { shape: [n], data: new Float32Array(n).fill(0.1) });
  let y: Value;
  if (v === "fp32") y = op.add(g, op.matmul(g, x, g.initializer("w", { shape: [k, n], data: wf })), bias);
  else {
    const q = quantizePerOutputChannel(wf, n, k);
    const B = g.initializer("wq", { shape: [k, n], data: q.data });
    const S = g.initializer("ws", { shape: [n], data: q.scale });
    if (v === "dqmm") y = op.dynamicQuantizeMatMul(g, x, B, S, bias);
    else {
      const d = op.dynamicQuantizeLinear(g, x);
      if (v === "dql+mmitf") y = op.matmulIntegerToFloat(g, d.y, B, d.scale, S, d.zeroPoint, bias);
      else y = op.add(g, op.mul(g, op.cast(g, op.matmulInteger(g, d.y, B, d.zeroPoint), "float32"), op.mul(g, d.scale, S)), bias);
    }
  }
  g.output(y);
  const s = await CompiledGraph.create(g, { threads });
  const feed = { x: { data: Float32Array.from({ length: m * k }, (_, i) => ((i * 104729) % 997) / 997 - 0.5), dims: [m, k] } };
  for (let i = 0; i < 3; i++) await s.run(feed);
  const reps = Math.max(5, Math.round(2e10 / (2 * m * k * n)));
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await s.run(feed);
  const sec = (performance.now() - t0) / 1000;
  await s.release();
  return (2 * m * k * n * reps) / sec / 1e9;
}
for (const threads of [1, 2]) for (const [m, k, n] of [[4096, 384, 1536], [4096, 384, 384], [4096, 1536, 384], [256, 384, 384]] as const) {
  const row: Record<string, string> = { threads: String(threads), shape: `${m}x${k}x${n}` };
  for (const v of ["fp32", "dqmm", "dql+mmitf", "dql+mmi", "fp32"] as Variant[]) row[v + (row[v] ? "(again)" : "")] = (await bench(v, m, k, n, threads)).toFixed(0);
  console.log(JSON.stringify(row));
}
