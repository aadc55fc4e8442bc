/**
 * Corpus-encoding benchmark on scifact's 5,183 documents: docs/s, tokens/s and effective
 * GFLOP/s of the encoder, beside a plain ORT MatMul's GFLOP/s measured in the same run (the
 * GEMM ceiling), at 1 and 2 threads. Writes bench/results/encode.json and prints a table.
 *
 *   npx tsx bench/encode.ts [--docs N] [--threads 1,2]
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Graph } from "../src/graph/ir.js";
import * as op from "../src/graph/ops.js";
import { CompiledGraph } from "../src/graph/session.js";
import { documentText, loadCorpus } from "../src/data/beir.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec, type BertConfig } from "../src/model/spec.js";
import { sharedDatasetsDir, projectRoot } from "../src/util/paths.js";
import { writeJsonAtomic } from "../src/util/atomic.js";

const { values } = parseArgs({ options: { docs: { type: "string" }, threads: { type: "string", default: "1,2" } } });
const datasets = sharedDatasetsDir();
if (!datasets) {
  console.error("bench/encode: ../shared/datasets is absent; nothing to measure");
  process.exit(0);
}

/** FLOPs of one sequence of `s` real tokens through a BERT encoder (multiply-add = 2). */
export function bertFlops(cfg: BertConfig, s: number): number {
  const h = cfg.hiddenSize;
  const perLayer = 2 * s * h * h * 4 + 2 * s * h * cfg.intermediateSize * 2 + 2 * s * s * h * 2;
  return perLayer * cfg.numLayers;
}

async function matmulGflops(threads: number): Promise<number> {
  // The FFN's GEMM at a typical batch: [4096 tokens, 384] x [384, 1536].
  const [m, k, n] = [4096, 384, 1536];
  const g = new Graph();
  const x = g.input("x", "float32", [m, k]);
  const w = g.initializer("w", { shape: [k, n], data: Float32Array.from({ length: k * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5) });
  g.output(op.matmul(g, x, w));
  const s = await CompiledGraph.create(g, { threads });
  const feed = { x: { data: Float32Array.from({ length: m * k }, (_, i) => ((i * 104729) % 997) / 997 - 0.5), dims: [m, k] } };
  for (let i = 0; i < 3; i++) await s.run(feed);
  const reps = 20;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await s.run(feed);
  const sec = (performance.now() - t0) / 1000;
  await s.release();
  return (2 * m * k * n * reps) / sec / 1e9;
}

const corpus = await loadCorpus(join(datasets, "scifact"));
const limit = values.docs ? Number(values.docs) : corpus.length;
const texts = corpus.slice(0, limit).map(documentText);
const model = loadModel(defaultModelSpec());
const rows: Record<string, number | string>[] = [];
for (const threads of values.threads!.split(",").map(Number)) {
  const gemmBefore = await matmulGflops(threads);
  const enc = await Encoder.create(model, { threads });
  const seqs = enc.tokenize(texts);
  const tokens = seqs.reduce((a, s) => a + s.length, 0);
  const flops = seqs.reduce((a, s) => a + bertFlops(model.spec.config, s.length), 0);
  await enc.encode(texts.slice(0, 64)); // warm-up
  const t0 = performance.now();
  await enc.encode(texts, {
    onProgress: (p) => {
      if (p.done % 640 < 32) process.stderr.write(`\r  threads ${threads}: ${p.done}/${p.total} docs`);
    },
  });
  const sec = (performance.now() - t0) / 1000;
  process.stderr.write("\n");
  await enc.close();
  const gemmAfter = await matmulGflops(threads);
  const gemm = (gemmBefore + gemmAfter) / 2;
  const gflops = flops / sec / 1e9;
  rows.push({
    threads,
    docs: texts.length,
    seconds: +sec.toFixed(2),
    docsPerSec: +(texts.length / sec).toFixed(1),
    tokensPerSec: Math.round(tokens / sec),
    encoderGflops: +gflops.toFixed(1),
    matmulGflops: +gemm.toFixed(1),
    fractionOfGemm: +(gflops / gemm).toFixed(2),
  });
}
console.table(rows);
const out = join(projectRoot, "bench", "results", "encode.json");
writeJsonAtomic(out, { date: new Date().toISOString(), model: model.spec.id, cpu: (await import("node:os")).cpus()[0]?.model, rows });
console.log(`written ${out}`);
