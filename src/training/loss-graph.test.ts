/**
 * The whole training graph on a tiny random BERT: the loss ORT computes equals InfoNCE computed
 * in JS from the forward graph's embeddings, and the generated gradients of every LoRA matrix
 * match central finite differences of that loss (tolerances as in graph/bert-grad.test.ts).
 */
import { describe, expect, it } from "vitest";
import { CompiledGraph, type Feed } from "../graph/session.js";
import { buildBertGraph } from "../model/bert-graph.js";
import { TINY_BERT_SPEC, tinyBertWeights } from "../../test/support/tiny-bert.js";
import { rng, uniform } from "../util/random.js";
import { buildTrainingGraph } from "./loss-graph.js";

const [batch, seq, rank, tau] = [3, 4, 2, 0.05];
const weights = tinyBertWeights(3);
const cfg = { rank, alpha: 4, targets: ["query", "value"], temperature: tau };

function feeds(lora: ReturnType<typeof buildTrainingGraph>["bert"]["lora"]): Record<string, Feed> {
  const rand = rng(9);
  const d = TINY_BERT_SPEC.config.hiddenSize;
  const docs = Float32Array.from(uniform(rand, batch * d));
  for (let i = 0; i < batch; i++) {
    let n = 0;
    for (let j = 0; j < d; j++) n += docs[i * d + j]! ** 2;
    for (let j = 0; j < d; j++) docs[i * d + j]! /= Math.sqrt(n);
  }
  const f: Record<string, Feed> = {
    input_ids: { data: BigInt64Array.from([1, 5, 9, 2, 1, 7, 2, 0, 1, 30, 31, 2], BigInt), dims: [batch, seq] },
    attention_mask: { data: BigInt64Array.from([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1], BigInt), dims: [batch, seq] },
    position_ids: { data: BigInt64Array.from([0, 1, 2, 3], BigInt), dims: [seq] },
    doc_vectors: { data: docs, dims: [batch, d] },
    labels: { data: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), dims: [batch, batch] },
    logit_mask: { data: new Float32Array(batch * batch), dims: [batch, batch] },
  };
  for (const l of lora) {
    f[l.A.name] = { data: Float32Array.from(uniform(rand, rank * l.inFeatures, -0.3, 0.3)), dims: [rank, l.inFeatures] };
    f[l.B.name] = { data: Float32Array.from(uniform(rand, rank * l.outFeatures, -0.3, 0.3)), dims: [l.outFeatures, rank] };
    f[l.dropoutMask!.name] = { data: new Float32Array(batch * seq * l.inFeatures).fill(1), dims: [batch, seq, l.inFeatures] };
  }
  return f;
}

describe("training graph (InfoNCE + generated backward) on a tiny BERT", () => {
  const tg = buildTrainingGraph(TINY_BERT_SPEC, weights, cfg);
  const f = feeds(tg.bert.lora);

  it("computes the InfoNCE loss of the forward embeddings", async () => {
    const fwd = buildBertGraph(TINY_BERT_SPEC.config, weights, { pooling: "mean", normalize: true, lora: { kind: "single", targets: cfg.targets, rank, scale: cfg.alpha / rank } });
    const fs = await CompiledGraph.create(fwd.graph);
    const q = (await fs.run(f))[fwd.embedding.name]!.data as Float32Array;
    const d = TINY_BERT_SPEC.config.hiddenSize;
    const docs = f.doc_vectors!.data as Float32Array;
    let loss = 0;
    for (let i = 0; i < batch; i++) {
      const logits = Array.from({ length: batch }, (_, j) => {
        let s = 0;
        for (let t = 0; t < d; t++) s += q[i * d + t]! * docs[j * d + t]!;
        return s / tau;
      });
      const mx = Math.max(...logits);
      const lse = mx + Math.log(logits.reduce((a, x) => a + Math.exp(x - mx), 0));
      loss += lse - logits[i]!;
    }
    const ts = await CompiledGraph.create(tg.bert.graph);
    const got = (await ts.run(f))[tg.loss.name]!.data[0] as number;
    expect(got).toBeCloseTo(loss / batch, 4);
    await fs.release();
    await ts.release();
  });

  it("gradients of every LoRA matrix match central differences", async () => {
    const ts = await CompiledGraph.create(tg.bert.graph);
    const out = await ts.run(f);
    const lossAt = async (name: string, x: Float32Array): Promise<number> =>
      Number((await ts.run({ ...f, [name]: { data: x, dims: f[name]!.dims } }, [tg.loss]))[tg.loss.name]!.data[0]);
    const h = 1e-2;
    let worst = 0;
    for (const [k, l] of tg.bert.lora.entries()) {
      for (const [input, grad] of [[l.A, tg.grads[k]!.dA], [l.B, tg.grads[k]!.dB]] as const) {
        const x = f[input.name]!.data as Float32Array;
        const analytic = out[grad.name]!.data as Float32Array;
        for (let i = 0; i < x.length; i += 3) {
          const plus = x.slice();
          const minus = x.slice();
          plus[i]! += h;
          minus[i]! -= h;
          const numeric = ((await lossAt(input.name, plus)) - (await lossAt(input.name, minus))) / (plus[i]! - minus[i]!);
          // 1/tau = 20 amplifies float32 rounding of the forward by 20x relative to the tiny-BERT check.
          worst = Math.max(worst, Math.abs(analytic[i]! - numeric) / (1e-3 + 1e-2 * Math.abs(numeric)));
        }
      }
    }
    expect(worst).toBeLessThan(1);
    await ts.release();
  });
});
