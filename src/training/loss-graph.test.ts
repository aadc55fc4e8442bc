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

/** In-batch: docs = batch, labels the identity. Corpus: more documents than rows, one masked. */
interface Negatives {
  readonly docs: number;
  readonly labels: readonly number[];
  readonly mask: readonly number[];
}
const IN_BATCH: Negatives = { docs: batch, labels: [1, 0, 0, 0, 1, 0, 0, 0, 1], mask: new Array<number>(batch * batch).fill(0) };
// Row 0's positive is doc 3; row 1 has doc 4 masked (another positive of the same query).
const CORPUS: Negatives = {
  docs: 5,
  labels: [0, 0, 0, 1, 0, /**/ 1, 0, 0, 0, 0, /**/ 0, 0, 1, 0, 0],
  mask: [0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, -1e9, /**/ 0, 0, 0, 0, 0],
};

function feeds(lora: ReturnType<typeof buildTrainingGraph>["bert"]["lora"], neg: Negatives): Record<string, Feed> {
  const rand = rng(9);
  const d = TINY_BERT_SPEC.config.hiddenSize;
  const docs = Float32Array.from(uniform(rand, neg.docs * d));
  for (let i = 0; i < neg.docs; i++) {
    let n = 0;
    for (let j = 0; j < d; j++) n += docs[i * d + j]! ** 2;
    for (let j = 0; j < d; j++) docs[i * d + j]! /= Math.sqrt(n);
  }
  const f: Record<string, Feed> = {
    input_ids: { data: BigInt64Array.from([1, 5, 9, 2, 1, 7, 2, 0, 1, 30, 31, 2], BigInt), dims: [batch, seq] },
    attention_mask: { data: BigInt64Array.from([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1], BigInt), dims: [batch, seq] },
    position_ids: { data: BigInt64Array.from([0, 1, 2, 3], BigInt), dims: [seq] },
    doc_vectors: { data: docs, dims: [neg.docs, d] },
    labels: { data: Float32Array.from(neg.labels), dims: [batch, neg.docs] },
    logit_mask: { data: Float32Array.from(neg.mask), dims: [batch, neg.docs] },
  };
  for (const l of lora) {
    f[l.A.name] = { data: Float32Array.from(uniform(rand, rank * l.inFeatures, -0.3, 0.3)), dims: [rank, l.inFeatures] };
    f[l.B.name] = { data: Float32Array.from(uniform(rand, rank * l.outFeatures, -0.3, 0.3)), dims: [l.outFeatures, rank] };
    f[l.dropoutMask!.name] = { data: new Float32Array(batch * seq * l.inFeatures).fill(1), dims: [batch, seq, l.inFeatures] };
  }
  return f;
}

describe.each([
  ["in-batch negatives", IN_BATCH],
  ["whole-corpus negatives with a masked positive", CORPUS],
] as const)("training graph (InfoNCE + generated backward) on a tiny BERT, %s", (_name, neg) => {
  const tg = buildTrainingGraph(TINY_BERT_SPEC, weights, cfg);
  const f = feeds(tg.bert.lora, neg);

  it("computes the InfoNCE loss of the forward embeddings", async () => {
    const fwd = buildBertGraph(TINY_BERT_SPEC.config, weights, { pooling: "mean", normalize: true, lora: { kind: "single", targets: cfg.targets, rank, scale: cfg.alpha / rank } });
    const fs = await CompiledGraph.create(fwd.graph);
    const q = (await fs.run(f))[fwd.embedding.name]!.data as Float32Array;
    const d = TINY_BERT_SPEC.config.hiddenSize;
    const docs = f.doc_vectors!.data as Float32Array;
    let loss = 0;
    for (let i = 0; i < batch; i++) {
      const logits = Array.from({ length: neg.docs }, (_, j) => {
        let s = 0;
        for (let t = 0; t < d; t++) s += q[i * d + t]! * docs[j * d + t]!;
        return s / tau;
      });
      const kept = logits.filter((_, j) => neg.mask[i * neg.docs + j] === 0);
      const mx = Math.max(...kept);
      const lse = mx + Math.log(kept.reduce((a, x) => a + Math.exp(x - mx), 0));
      loss += lse - logits[neg.labels.indexOf(1, i * neg.docs) - i * neg.docs]!;
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
