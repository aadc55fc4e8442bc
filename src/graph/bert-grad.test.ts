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
import { gradCheckGraph, rng, uniform } from "../../test/support/graph.js";
import { buildBertGraph } from "../model/bert-graph.js";
import { TINY_BERT_CONFIG, tinyBertWeights } from "../../test/support/tiny-bert.js";

const cfg = TINY_BERT_CONFIG;
const randomWeights = tinyBertWeights;

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
