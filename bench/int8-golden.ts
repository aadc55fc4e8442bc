/**
 * int8 vs the golden reference: min/mean cosine over the 21 golden cases at batch 1, 4 and 32,
 * per activation scheme (per-row, the default, and DynamicQuantizeMatMul's per-tensor).
 *
 *   npx tsx bench/int8-golden.ts
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { sharedGoldenDir } from "../src/util/paths.js";
const golden = JSON.parse(readFileSync(join(sharedGoldenDir()!, "minilm-l6-v2.json"), "utf8")) as { cases: { text: string; embedding: number[] }[] };
const model = loadModel(defaultModelSpec());
for (const int8Activations of ["per-row", "per-tensor"] as const) for (const bs of [1, 4, 32]) {
  const enc = await Encoder.create(model, { precision: "int8", int8Activations });
  const vecs = await enc.encode(golden.cases.map((c) => c.text), { batchSize: bs });
  const cos = golden.cases.map((c, i) => {
    const v = vecs.subarray(i * enc.dims, (i + 1) * enc.dims);
    let dot = 0, nv = 0, ng = 0;
    c.embedding.forEach((g, j) => { dot += g * v[j]!; nv += v[j]! ** 2; ng += g * g; });
    return dot / Math.sqrt(nv * ng);
  });
  console.log(`${int8Activations} batch ${bs}: min ${Math.min(...cos).toFixed(4)} mean ${(cos.reduce((a, b) => a + b) / cos.length).toFixed(4)} [${cos.map((c) => c.toFixed(3)).join(" ")}]`);
  await enc.close();
}
