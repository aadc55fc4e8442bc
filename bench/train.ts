/**
 * Training-step benchmark: seconds per step and (query, doc) pairs/s of the generated training
 * graph (forward + InfoNCE + backward to the LoRA matrices) at several batch sizes, on real
 * SciFact training queries, plus the time each trained expert took to reach its best checkpoint
 * (read from the experts' metadata). Writes bench/results/train.json.
 *
 *   npx tsx bench/train.ts [--batches 16,64,256] [--steps 3] [--threads 1]
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { CompiledGraph, type Feed } from "../src/graph/session.js";
import { initLora } from "../src/experts/init.js";
import { positionIds, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { makeBatches } from "../src/model/tokenizer.js";
import { buildTrainingGraph } from "../src/training/loss-graph.js";
import { DEFAULT_LORA } from "../src/training/trainer.js";
import { pairsFromQrels } from "../src/data/pairs.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";
import { rng } from "../src/util/random.js";

const { values } = parseArgs({ options: { batches: { type: "string", default: "16,64,256" }, steps: { type: "string", default: "3" }, threads: { type: "string", default: "1" } } });
const datasets = sharedDatasetsDir();
if (!datasets) {
  console.error("bench/train: ../shared/datasets is absent; nothing to measure");
  process.exit(0);
}
const model = loadModel(defaultModelSpec());
const pairs = await pairsFromQrels(join(datasets, "scifact"));
const tg = buildTrainingGraph(model.spec, model.weights, { rank: 8, alpha: 32, targets: DEFAULT_LORA.targetModules, temperature: 0.05 });
const session = await CompiledGraph.create(tg.bert.graph, { threads: Number(values.threads) });
const lora = initLora(model, DEFAULT_LORA, 0);
const rand = rng(1);
const d = model.spec.config.hiddenSize;

const rows: Record<string, number>[] = [];
for (const batch of values.batches!.split(",").map(Number)) {
  const seqs = pairs.slice(0, batch).map((p) => model.tokenizer.encode(p.query));
  const [b] = makeBatches(seqs, model.tokenizer.padId, batch);
  const n = b!.batchSize;
  const feeds: Record<string, Feed> = {
    input_ids: { data: b!.inputIds, dims: [n, b!.seqLen] },
    attention_mask: { data: b!.attentionMask, dims: [n, b!.seqLen] },
    position_ids: { data: positionIds(b!.seqLen), dims: [b!.seqLen] },
    doc_vectors: { data: Float32Array.from({ length: n * d }, () => rand() - 0.5), dims: [n, d] },
    labels: { data: Float32Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), dims: [n, n] },
    logit_mask: { data: new Float32Array(n * n), dims: [n, n] },
  };
  for (const m of tg.bert.lora) {
    const w = lora.get(m.module)!;
    feeds[m.A.name] = { data: w.A, dims: [8, m.inFeatures] };
    feeds[m.B.name] = { data: Float32Array.from({ length: w.B.length }, () => (rand() - 0.5) * 0.01), dims: [m.outFeatures, 8] };
    feeds[m.dropoutMask!.name] = { data: new Float32Array(n * b!.seqLen * m.inFeatures).fill(1), dims: [n, b!.seqLen, m.inFeatures] };
  }
  await session.run(feeds);
  const steps = Number(values.steps);
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) await session.run(feeds);
  const sec = (performance.now() - t0) / 1000 / steps;
  rows.push({ batch: n, seqLen: b!.seqLen, secondsPerStep: +sec.toFixed(3), pairsPerSec: +(n / sec).toFixed(1) });
}
await session.release();
console.table(rows);

const experts: Record<string, unknown>[] = [];
for (const name of ["scifact", "arguana", "cosqa", "multitask"]) {
  const meta = join(projectRoot, "results", "experts", name, "routerretriever.json");
  if (!existsSync(meta)) continue;
  const m = JSON.parse(readFileSync(meta, "utf8")) as { metrics?: Record<string, number>; training?: Record<string, unknown> };
  experts.push({ expert: name, bestEpoch: m.training?.bestEpoch, secondsToBest: m.metrics?.secondsToBest, trainSeconds: m.metrics?.trainSeconds, meanStepSeconds: m.metrics?.meanStepSeconds, pairs: m.training?.pairs });
}
if (experts.length) console.table(experts);
const out = join(projectRoot, "bench", "results", "train.json");
writeJsonAtomic(out, { date: new Date().toISOString(), threads: Number(values.threads), steps: rows, experts });
console.log(`written ${out}`);
