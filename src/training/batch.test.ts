/**
 * A step's softmax masks, on the tiny BERT: a query's other positives (and documents sharing
 * their text) are kept out of its negatives, in both negative modes, and the mask really
 * removes them from the loss the training graph computes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { initLora } from "../experts/init.js";
import { CompiledGraph, type Feed } from "../graph/session.js";
import { rng, uniform } from "../util/random.js";
import { createIndex } from "../vectors/store.js";
import { tinyModel } from "../../test/support/tiny-training.js";
import { stepFeeds } from "./batch.js";
import { corpusNegatives, queryKey, type Domain, type DomainPair } from "./data.js";
import { buildTrainingGraph } from "./loss-graph.js";

const root = mkdtempSync(join(tmpdir(), "rr-batch-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const model = tinyModel();
const d = model.spec.config.hiddenSize;
const lora = { rank: 2, alpha: 4, dropout: 0, targetModules: ["query", "value"] };
const tg = buildTrainingGraph(model.spec, model.weights, { rank: lora.rank, alpha: lora.alpha, targets: lora.targetModules, temperature: 0.05 });

/** One domain of 6 documents d0..d5 (d3 and d4 share a text) with unit random vectors. */
function domain(pairs: DomainPair[], ignoreIdenticalIds = false): Domain {
  const ids = ["d0", "d1", "d2", "d3", "d4", "d5"];
  const rand = rng(4);
  const vectors = Float32Array.from(uniform(rand, ids.length * d));
  for (let i = 0; i < ids.length; i++) {
    const row = vectors.subarray(i * d, (i + 1) * d);
    const n = Math.sqrt(row.reduce((a, x) => a + x * x, 0));
    row.forEach((x, t) => (row[t] = x / n));
  }
  const index = createIndex(join(root, `index-${Math.random().toString(36).slice(2)}`), { modelId: model.spec.id, dims: d, pooling: "mean", normalized: true });
  index.add(ids, vectors);
  const twins = new Map([["d3", ["d3", "d4"]], ["d4", ["d3", "d4"]]]);
  return { dir: root, pairs, dev: { queries: new Map(), qrels: new Map(), description: "" }, index, twins, description: "", source: "qrels", ignoreIdenticalIds };
}

const pair = (queryId: string, query: string, docId: string): DomainPair => ({ queryId, query, docId, domain: 0 });

function feedsFor(batch: DomainPair[], all: DomainPair[], corpus: boolean, ignoreIdenticalIds = false): Record<string, Feed> {
  const domains = [domain(all, ignoreIdenticalIds)];
  const tokens = new Map(all.map((p) => [queryKey(p), model.tokenizer.encode(p.query)]));
  const neg = corpus ? corpusNegatives(domains, all) : undefined;
  return stepFeeds(batch, tokens, domains, neg, tg.bert.lora, initLora(model, lora, 1), lora.dropout, model.tokenizer.padId, rng(1));
}

async function lossOf(session: CompiledGraph, feeds: Record<string, Feed>): Promise<number> {
  return (await session.run(feeds, [tg.loss]))[tg.loss.name]!.data[0] as number;
}

describe("a step's logit mask", () => {
  it("in-batch: two rows with the same positive are not each other's negatives", () => {
    const batch = [pair("q0", "alpha beta gamma", "d1"), pair("q1", "delta omega kappa", "d1"), pair("q2", "sigma theta lambda", "d2")];
    const f = feedsFor(batch, batch, false);
    const n = 3;
    const mask = f.logit_mask!.data as Float32Array;
    const labels = f.labels!.data as Float32Array;
    const docs = f.doc_vectors!.data as Float32Array;
    const masked: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (mask[i * n + j] !== 0) masked.push([i, j]);
    expect(masked).toHaveLength(2);
    const [[i, j]] = masked;
    expect(masked).toContainEqual([j, i]);
    expect(i).not.toBe(j);
    // The two masked rows are the ones whose positive (their label's document) is the same.
    expect(docs.subarray(i! * d, (i! + 1) * d)).toEqual(docs.subarray(j! * d, (j! + 1) * d));
    expect([...labels]).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it("whole corpus: a query's other positives and their twins leave its softmax, and only they", async () => {
    // q0 has two positives, d1 and d3; d3 shares its text with d4. The batch trains q0 -> d1.
    const all = [pair("q0", "alpha beta gamma", "d1"), pair("q0", "alpha beta gamma", "d3"), pair("q5", "sigma theta", "d2")];
    const batch = [all[0]!, all[2]!];
    const f = feedsFor(batch, all, true);
    const m = 6;
    const mask = f.logit_mask!.data as Float32Array;
    const labels = f.labels!.data as Float32Array;
    const rowOf = (docRow: number): number => (labels[docRow] === 1 ? 0 : 1); // which batch row trains on d1
    const q0 = rowOf(1);
    expect(labels[q0 * m + 1]).toBe(1);
    expect([...mask.subarray(q0 * m, (q0 + 1) * m)]).toEqual([0, 0, 0, -1e9, -1e9, 0]);
    expect([...mask.subarray((1 - q0) * m, (2 - q0) * m)]).toEqual([0, 0, 0, 0, 0, 0]);

    // In the training graph: moving the masked documents (d3, d4) leaves q0's loss exactly as it
    // was only if the mask removes them; q5's row would see them, so train on q0 alone.
    const session = await CompiledGraph.create(tg.bert.graph);
    const solo = feedsFor([all[0]!], all, true);
    const moved = (rows: number[]): Record<string, Feed> => {
      const docs = Float32Array.from(solo.doc_vectors!.data as Float32Array);
      for (const r of rows) for (let t = 0; t < d; t++) docs[r * d + t] = t === 0 ? 1 : 0;
      return { ...solo, doc_vectors: { data: docs, dims: solo.doc_vectors!.dims } };
    };
    const before = await lossOf(session, solo);
    expect(await lossOf(session, moved([3, 4]))).toBe(before);
    expect(await lossOf(session, moved([5]))).not.toBe(before);
    // Without the mask the same move does change the loss: the mask is what keeps it out.
    const unmasked = (feeds: Record<string, Feed>): Record<string, Feed> => ({ ...feeds, logit_mask: { data: new Float32Array(m), dims: [1, m] } });
    expect(await lossOf(session, unmasked(moved([3, 4])))).not.toBe(await lossOf(session, unmasked(solo)));
    await session.release();
  });

  it("whole corpus, queries that are documents (ArguAna): the query's own document leaves its softmax", () => {
    // Argument d0 trains towards its counter-argument d1; d0's own text is in the corpus.
    const all = [pair("d0", "alpha beta gamma", "d1"), pair("q5", "sigma theta", "d2")];
    const rowMask = (ignore: boolean): number[] => {
      const f = feedsFor([all[0]!], all, true, ignore);
      return [...(f.logit_mask!.data as Float32Array).subarray(0, 6)];
    };
    expect(rowMask(true)).toEqual([-1e9, 0, 0, 0, 0, 0]);
    // A dataset whose query ids merely coincide with document ids (SciFact's are both numbers) keeps it.
    expect(rowMask(false)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
