/**
 * Where the encoder's time goes, per ONNX op type, from ONNX Runtime's own profiler: fp32 and
 * int8 graphs on the same scifact texts and batches, same process. Prints ms per op type and
 * the share of the run, so a variant's gain or loss can be traced to the kernels that cause it.
 *
 *   npx tsx bench/profile-ops.ts [--docs 256] [--threads 1] [--precision fp32,int8]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { documentText, loadCorpus } from "../src/data/beir.js";
import { emitOnnx } from "../src/graph/onnx.js";
import { buildBertGraph, type Precision } from "../src/model/bert-graph.js";
import { loadModel, positionIds, tokenizeAll } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { makeBatches } from "../src/model/tokenizer.js";
import { sharedDatasetsDir } from "../src/util/paths.js";

const { values } = parseArgs({ options: { docs: { type: "string", default: "256" }, threads: { type: "string", default: "1" }, precision: { type: "string", default: "fp32,int8" } } });
const datasets = sharedDatasetsDir();
if (!datasets) {
  console.error("bench/profile-ops: ../shared/datasets is absent; nothing to measure");
  process.exit(0);
}
const model = loadModel(defaultModelSpec());
const texts = (await loadCorpus(join(datasets, "scifact"))).slice(0, Number(values.docs)).map(documentText);
const batches = makeBatches(tokenizeAll(model, texts), model.tokenizer.padId, 32, 8192);
const dir = mkdtempSync(join(tmpdir(), "rr-profile-"));

interface Event { cat: string; name: string; dur: number; args?: { op_name?: string } }

for (const precision of values.precision!.split(",") as Precision[]) {
  const bg = buildBertGraph(model.spec.config, model.weights, { pooling: model.spec.pooling, normalize: model.spec.normalize, precision });
  const session = await ort.InferenceSession.create(emitOnnx(bg.graph), {
    intraOpNumThreads: Number(values.threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    enableProfiling: true,
    profileFilePrefix: join(dir, precision),
  });
  const t0 = performance.now();
  for (const b of batches) {
    await session.run({
      input_ids: new ort.Tensor("int64", b.inputIds, [b.batchSize, b.seqLen]),
      attention_mask: new ort.Tensor("int64", b.attentionMask, [b.batchSize, b.seqLen]),
      position_ids: new ort.Tensor("int64", positionIds(b.seqLen), [b.seqLen]),
    });
  }
  const wall = performance.now() - t0;
  session.endProfiling();
  await session.release();
  const file = (await import("node:fs")).readdirSync(dir).find((f) => f.startsWith(precision));
  const events = JSON.parse(readFileSync(join(dir, file!), "utf8")) as Event[];
  const byOp = new Map<string, { us: number; n: number }>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
    const k = e.args?.op_name ?? "?";
    const r = byOp.get(k) ?? { us: 0, n: 0 };
    r.us += e.dur;
    r.n++;
    byOp.set(k, r);
    total += e.dur;
  }
  console.log(`\n${precision}: ${texts.length} docs, wall ${wall.toFixed(0)} ms, kernels ${(total / 1000).toFixed(0)} ms, ${(texts.length / (wall / 1000)).toFixed(1)} docs/s`);
  const rows = [...byOp.entries()].sort((a, b) => b[1].us - a[1].us);
  for (const [k, r] of rows) console.log(`  ${k.padEnd(28)} ${(r.us / 1000).toFixed(1).padStart(8)} ms  ${((100 * r.us) / total).toFixed(1).padStart(5)}%  (${r.n} calls)`);
}
rmSync(dir, { recursive: true, force: true });
