/**
 * Experts on a dataset's dev split, exactly as train-expert splits it (data/pairs.ts
 * trainingData: qrels/dev.tsv, ArguAna's validation arguments, else the held-out share of the
 * training queries): nDCG@10 of the base and of each expert folder given. This is how an expert
 * trained on one kind of query (ArguAna's GenQ) is judged on the dataset's own dev queries
 * without touching test. Writes nothing; prints a table.
 *
 *   npx tsx bench/expert-dev.ts --dataset ../shared/datasets/arguana genq=results/experts/arguana new=/tmp/arguana
 */
import { parseArgs } from "node:util";
import { documentText, loadCorpus } from "../src/data/beir.js";
import { trainingData, TRAINING_SOURCES, type TrainingSource } from "../src/data/pairs.js";
import { retrieve, RUN_DEPTH } from "../src/evaluation/evaluate.js";
import { evaluateRun } from "../src/evaluation/metrics.js";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { loadExpert } from "../src/experts/peft.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { BASE } from "../src/routing/types.js";
import { corpusVectors } from "../src/vectors/encode-corpus.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { dataset: { type: "string" }, source: { type: "string", default: "auto" }, threads: { type: "string", default: "2" } },
});
if (!values.dataset) throw new Error("--dataset DIR is required");
const source = values.source as TrainingSource | "auto";
if (source !== "auto" && !TRAINING_SOURCES.includes(source)) throw new Error(`--source: one of auto, ${TRAINING_SOURCES.join(", ")}`);
const threads = Number(values.threads);
const model = loadModel(defaultModelSpec());
const t = await trainingData(values.dataset, source, 0);
const base = await Encoder.create(model, { threads });
const corpus = await loadCorpus(values.dataset);
const { index } = await corpusVectors(base, corpus.map((d) => ({ id: d.id, text: documentText(d) })), {});
await base.close();
const ids = [...t.dev.queries.keys()];
const texts = ids.map((q) => t.dev.queries.get(q)!);
const ignore = t.dev.ignoreIdenticalIds ?? false;
console.log(`dev: ${t.dev.description} (training source: ${t.source})\n\n| model | dev nDCG@10 |\n| --- | ---: |`);
for (const [name, dir] of [[BASE, ""], ...positionals.map((a) => a.split("=") as [string, string])] as const) {
  const enc = await ExpertEncoder.create(model, name === BASE ? [] : [loadExpert(dir, model, { id: name })], { threads });
  const vectors = await enc.encode(texts, name);
  await enc.close();
  const ndcg = evaluateRun(t.dev.qrels, retrieve(index, ids, vectors, RUN_DEPTH, ignore), { ks: [10], ignoreIdenticalIds: ignore }).mean["ndcg@10"] ?? 0;
  console.log(`| ${name} | ${(ndcg * 100).toFixed(2)} |`);
}
