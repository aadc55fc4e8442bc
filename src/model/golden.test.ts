import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sharedGoldenDir } from "../util/paths.js";
import { NO_FUSIONS } from "./bert-graph.js";
import { Encoder, loadModel } from "./encoder.js";
import { defaultModelSpec } from "./spec.js";

interface GoldenCase {
  text: string;
  token_ids: number[];
  embedding: number[];
}

const dir = sharedGoldenDir();
const path = dir && join(dir, "minilm-l6-v2.json");
if (!path || !existsSync(path)) console.warn("golden test skipped: ../shared/golden/minilm-l6-v2.json is absent");

// Reference: a candle/WASM BERT and the native Rust tokenizers, engines this project did not write.
describe.skipIf(!path || !existsSync(path))("all-MiniLM-L6-v2 against ../shared/golden", () => {
  it("reproduces every golden case: identical token ids, embeddings within cosine 0.9999", async () => {
    const golden = JSON.parse(readFileSync(path!, "utf8")) as { dims: number; max_tokens: number; cases: GoldenCase[] };
    const enc = await Encoder.load(defaultModelSpec());
    expect(enc.dims).toBe(golden.dims);
    expect(enc.spec.maxLength).toBe(golden.max_tokens);
    const texts = golden.cases.map((c) => c.text);
    const ids = enc.tokenize(texts);
    golden.cases.forEach((c, i) => expect(ids[i], `token ids of case ${i}`).toEqual(c.token_ids));
    // Batch size 4 so padding and length-sorting are exercised against unpadded references.
    const vecs = await enc.encode(texts, { batchSize: 4 });
    golden.cases.forEach((c, i) => {
      const v = vecs.subarray(i * enc.dims, (i + 1) * enc.dims);
      let dot = 0, nv = 0, ng = 0;
      c.embedding.forEach((g, j) => { dot += g * v[j]!; nv += v[j]! ** 2; ng += g * g; });
      expect(dot / Math.sqrt(nv * ng), `cosine of case ${i} (${c.text.slice(0, 30)})`).toBeGreaterThan(0.9999);
    });
    await enc.close();
  });

  // Each fused kernel (bench/encode.ts measures each alone) must leave fp32 golden-exact by itself,
  // and so must the unfused graph that training builds.
  it("each fused kernel alone, and none, stays within cosine 0.9999 of every golden case", async () => {
    const golden = JSON.parse(readFileSync(path!, "utf8")) as { cases: GoldenCase[] };
    const model = loadModel(defaultModelSpec());
    for (const fusions of [NO_FUSIONS, { ...NO_FUSIONS, attention: true }, { ...NO_FUSIONS, skipLayerNorm: true }, { ...NO_FUSIONS, biasGelu: true }]) {
      const enc = await Encoder.create(model, { fusions });
      const vecs = await enc.encode(golden.cases.map((c) => c.text), { batchSize: 4 });
      golden.cases.forEach((c, i) => expect(cosine(c.embedding, vecs.subarray(i * enc.dims, (i + 1) * enc.dims)), `${JSON.stringify(fusions)} case ${i}`).toBeGreaterThan(0.9999));
      await enc.close();
    }
  });

  // int8 rounds every linear layer's weights and activations, so it cannot be bit-close; the
  // bar (issue 10) is cosine >= 0.99 to the independent reference on every case.
  it("int8 precision stays within cosine 0.99 of every golden case", async () => {
    const golden = JSON.parse(readFileSync(path!, "utf8")) as { dims: number; cases: GoldenCase[] };
    const enc = await Encoder.load(defaultModelSpec(), { precision: "int8" });
    const vecs = await enc.encode(golden.cases.map((c) => c.text), { batchSize: 4 });
    const cosines = golden.cases.map((c, i) => {
      const v = vecs.subarray(i * enc.dims, (i + 1) * enc.dims);
      let dot = 0, nv = 0, ng = 0;
      c.embedding.forEach((g, j) => { dot += g * v[j]!; nv += v[j]! ** 2; ng += g * g; });
      return dot / Math.sqrt(nv * ng);
    });
    console.log(`int8 golden cosines: min ${Math.min(...cosines).toFixed(4)}, mean ${(cosines.reduce((a, b) => a + b, 0) / cosines.length).toFixed(4)}`);
    cosines.forEach((cos, i) => expect(cos, `int8 cosine of case ${i} (${golden.cases[i]!.text.slice(0, 30)})`).toBeGreaterThanOrEqual(0.99));
    await enc.close();
  });
});

function cosine(a: readonly number[], v: Float32Array): number {
  let dot = 0, na = 0, nv = 0;
  a.forEach((x, j) => { dot += x * v[j]!; na += x * x; nv += v[j]! ** 2; });
  return dot / Math.sqrt(na * nv);
}
