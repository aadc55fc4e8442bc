/**
 * Whole-model check: LoRA gradients through a tiny random BERT (2 layers, hidden 32, 4 heads,
 * GELU via erf, LayerNorms, mean pooling with padding, L2 normalisation) built by
 * src/model/bert-graph.ts, against central finite differences.
 *
 * float32, because ONNX Runtime has no double Erf kernel (a float64 BERT graph does not load).
 * The loss is summed in float64 (see testing.ts), so the noise is the float32 forward's own
 * rounding divided by 2h, and truncation grows as h^2: h = 1e-2 is the sweet spot measured here
 * (h = 3e-3 and 3e-2 were 2-3x worse). Measured over the 512 elements: max |analytic - numeric|
 * 2.0e-5, median 4e-6, against gradients of median 2.6e-2 (max 0.38). atol 6e-5 + rtol 1e-3
 * leaves ~3x margin over the worst, while a dropped or mis-scaled term is O(1e-2).
 */
import { describe, expect, it } from "vitest";
import type { Feed } from "./session.js";
import { gradCheckGraph, rng, uniform } from "./testing.js";
import { buildBertGraph, LINEAR_MODULES } from "../model/bert-graph.js";
import type { Tensor } from "../model/safetensors.js";
import type { BertConfig } from "../model/spec.js";

const cfg: BertConfig = {
  vocabSize: 40, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64,
  maxPositions: 16, typeVocabSize: 2, layerNormEps: 1e-12, padTokenId: 0,
};

function randomWeights(seed: number): Map<string, Tensor> {
  const rand = rng(seed);
  const w = new Map<string, Tensor>();
  const put = (name: string, shape: number[], lo: number, hi: number): void => {
    w.set(name, { shape, data: Float32Array.from(uniform(rand, shape.reduce((a, b) => a * b, 1), lo, hi)) });
  };
  const h = cfg.hiddenSize;
  const layerNorm = (p: string): void => (put(`${p}.weight`, [h], 0.8, 1.2), put(`${p}.bias`, [h], -0.1, 0.1));
  put("embeddings.word_embeddings.weight", [cfg.vocabSize, h], -1, 1);
  put("embeddings.position_embeddings.weight", [cfg.maxPositions, h], -0.3, 0.3);
  put("embeddings.token_type_embeddings.weight", [cfg.typeVocabSize, h], -0.3, 0.3);
  layerNorm("embeddings.LayerNorm");
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const m of LINEAR_MODULES) {
      const [out, inF] = m === "intermediate.dense" ? [cfg.intermediateSize, h] : m === "output.dense" ? [h, cfg.intermediateSize] : [h, h];
      const s = 1 / Math.sqrt(inF);
      put(`encoder.layer.${l}.${m}.weight`, [out, inF], -s, s);
      put(`encoder.layer.${l}.${m}.bias`, [out], -0.1, 0.1);
    }
    layerNorm(`encoder.layer.${l}.attention.output.LayerNorm`);
    layerNorm(`encoder.layer.${l}.output.LayerNorm`);
  }
  return w;
}

describe("LoRA gradients through a tiny BERT", () => {
  it("match finite differences for every A and B (query, value; 2 layers)", async () => {
    const weights = randomWeights(11);
    const opts = { pooling: "mean", normalize: true, dtype: "float32", lora: { kind: "single", targets: ["query", "value"], rank: 2, scale: 2 } } as const;
    const make = () => {
      const bert = buildBertGraph(cfg, weights, opts);
      return { graph: bert.graph, output: bert.embedding, lora: bert.lora };
    };
    const [batch, seq] = [2, 5];
    const rand = rng(5);
    const feeds: Record<string, Feed> = {
      input_ids: { data: BigInt64Array.from([1, 7, 12, 30, 2, 1, 9, 2, 0, 0], BigInt), dims: [batch, seq] },
      attention_mask: { data: BigInt64Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], BigInt), dims: [batch, seq] }, // row 1 padded
      position_ids: { data: BigInt64Array.from([0, 1, 2, 3, 4], BigInt), dims: [seq] },
    };
    const lora = make().lora;
    expect(lora).toHaveLength(4);
    for (const l of lora) {
      feeds[l.A.name] = { data: Float32Array.from(uniform(rand, 2 * l.inFeatures, -0.3, 0.3)), dims: [2, l.inFeatures] };
      feeds[l.B.name] = { data: Float32Array.from(uniform(rand, 2 * l.outFeatures, -0.3, 0.3)), dims: [l.outFeatures, 2] };
      // dropout mask: p = 0.2 -> 0 or 1.25
      feeds[l.dropoutMask!.name] = { data: Float32Array.from({ length: batch * seq * l.inFeatures }, () => (rand() < 0.2 ? 0 : 1.25)), dims: [batch, seq, l.inFeatures] };
    }
    const targets = lora.flatMap((l) => [l.A.name, l.B.name]);
    const r = await gradCheckGraph(make, feeds, targets, { h: 1e-2, atol: 6e-5, rtol: 1e-3 });
    expect(r.mismatches).toEqual([]);
    expect(r.checked).toBe(4 * 2 * 64);
  });
});
