/**
 * nDCG@10 when documents and queries are encoded at different precisions (issue 10: int8 may
 * become a default only within 0.3 nDCG@10 of fp32 on all six datasets). Indexing is where int8
 * pays (every document once, 1.6x faster); a query is one short pass. So besides int8 on both
 * sides, this measures int8 documents with fp32 queries (the index built fast, queries exact) and
 * fp32 documents with int8 queries (an existing fp32 index served by int8 query sessions).
 * Corpus vectors come from the cache when `eval --precision ...` has built them.
 *
 *   npx tsx bench/precision-mix.ts [--datasets scifact,arguana,cosqa,cranfield,cisi,cacm] [--threads 2]
 *
 * Writes bench/results/precision-mix.json.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadBeirDataset } from "../src/data/beir.js";
import { evaluateDataset } from "../src/evaluation/evaluate.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";

const { values } = parseArgs({
  options: {
    datasets: { type: "string", default: "scifact,arguana,cosqa,cranfield,cisi,cacm" },
    threads: { type: "string", default: "2" },
  },
});
const root = sharedDatasetsDir();
if (!root) {
  console.error("precision-mix: ../shared/datasets is absent; nothing to measure");
  process.exit(0);
}
const model = loadModel(defaultModelSpec());
const threads = Number(values.threads);
const fp32 = await Encoder.create(model, { threads, precision: "fp32" });
const int8 = await Encoder.create(model, { threads, precision: "int8" });
const combos = [
  ["fp32", "fp32", fp32, fp32],
  ["int8", "int8", int8, int8],
  ["int8", "fp32", int8, fp32],
  ["fp32", "int8", fp32, int8],
] as const;
const rows: { dataset: string; ndcg: Record<string, number> }[] = [];
for (const name of values.datasets!.split(",")) {
  const ds = await loadBeirDataset(join(root, name), "test");
  const ndcg: Record<string, number> = {};
  for (const [docs, queries, docEnc, queryEnc] of combos) {
    const ev = await evaluateDataset(ds, docEnc, { encodeQueries: (texts) => queryEnc.encode(texts) });
    ndcg[`docs ${docs}, queries ${queries}`] = ev.mean["ndcg@10"]!;
  }
  rows.push({ dataset: name, ndcg });
  console.error(`${name}: ${Object.entries(ndcg).map(([k, v]) => `${k} ${(100 * v).toFixed(2)}`).join(" | ")}`);
}
await fp32.close();
await int8.close();

const keys = Object.keys(rows[0]!.ndcg);
console.log(`| dataset | ${keys.join(" | ")} |`);
console.log(`| --- | ${keys.map(() => "---:").join(" | ")} |`);
for (const r of rows) {
  const ref = r.ndcg[keys[0]!]!;
  console.log(`| ${r.dataset} | ${keys.map((k, i) => (i === 0 ? (100 * r.ndcg[k]!).toFixed(2) : `${(100 * r.ndcg[k]!).toFixed(2)} (${100 * (r.ndcg[k]! - ref) >= 0 ? "+" : ""}${(100 * (r.ndcg[k]! - ref)).toFixed(2)})`)).join(" | ")} |`);
}
writeJsonAtomic(join(projectRoot, "bench", "results", "precision-mix.json"), { threads, rows });
