/**
 * Quick fp32 vs int8 encoder speed on the first N scifact documents, same texts, same process.
 *
 *   npx tsx bench/int8-speed.ts [docs=400] [threads=2]
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { documentText, loadCorpus } from "../src/data/beir.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { sharedDatasetsDir } from "../src/util/paths.js";
const n = Number(process.argv[2] ?? 400);
const threads = Number(process.argv[3] ?? 2);
const texts = (await loadCorpus(join(sharedDatasetsDir()!, "scifact"))).slice(0, n).map(documentText);
const model = loadModel(defaultModelSpec());
const rate: Record<string, number> = {};
for (const precision of ["fp32", "int8", "fp32", "int8"] as const) {
  const enc = await Encoder.create(model, { threads, precision });
  await enc.encode(texts.slice(0, 32));
  const t0 = performance.now();
  await enc.encode(texts);
  const r = n / ((performance.now() - t0) / 1000);
  rate[precision] = Math.max(rate[precision] ?? 0, r);
  console.log(`${precision}: ${r.toFixed(1)} docs/s`);
  await enc.close();
}
console.log(`best-of-2: fp32 ${rate.fp32!.toFixed(1)}, int8 ${rate.int8!.toFixed(1)} docs/s, ratio ${(rate.int8! / rate.fp32!).toFixed(2)}`);
