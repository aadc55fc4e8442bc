/**
 * One training step's feeds: the batch's query tokens, the documents of its softmax (the whole
 * corpus, or the batch's own positives), labels, the logit mask that keeps a query's other
 * positives (and their twins) out of its negatives, the LoRA weights and this step's dropout
 * masks.
 */
import type { Feed } from "../graph/session.js";
import type { LoraMatrices } from "../experts/types.js";
import { positionIds } from "../model/encoder.js";
import { makeBatches } from "../model/tokenizer.js";
import { queryKey, type CorpusNegatives, type Domain, type DomainPair } from "./data.js";

export function stepFeeds(
  batch: readonly DomainPair[],
  queryTokens: ReadonlyMap<string, number[]>,
  domains: readonly Domain[],
  corpusNeg: CorpusNegatives | undefined,
  modules: ReadonlyArray<{ module: string; inFeatures: number; outFeatures: number; A: { name: string }; B: { name: string }; dropoutMask?: { name: string } }>,
  weights: ReadonlyMap<string, LoraMatrices>,
  dropout: number,
  padId: number,
  rand: () => number,
): Record<string, Feed> {
  const [b] = makeBatches(batch.map((p) => queryTokens.get(queryKey(p))!), padId, batch.length);
  const rows = b!.rows.map((r) => batch[r]!);
  const n = rows.length;
  const d = domains[0]!.index.dims;
  let docs: Float32Array;
  let m: number;
  let labels: Float32Array;
  let mask: Float32Array;
  if (corpusNeg) {
    // Row i's label is its pair's document; its query's other positives (and twins) leave the softmax.
    docs = corpusNeg.vectors;
    m = corpusNeg.docs;
    labels = new Float32Array(n * m);
    mask = new Float32Array(n * m);
    rows.forEach((p, i) => {
      const own = corpusNeg.row.get(`${p.domain}:${p.docId}`)!;
      labels[i * m + own] = 1;
      for (const r of corpusNeg.positives.get(queryKey(p))!) if (r !== own) mask[i * m + r] = -1e9;
    });
  } else {
    m = n;
    docs = new Float32Array(n * d);
    rows.forEach((p, i) => docs.set(domains[p.domain]!.index.get(p.docId)!, i * d));
    labels = new Float32Array(n * n);
    mask = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      labels[i * n + i] = 1;
      for (let j = 0; j < n; j++) if (j !== i && rows[j]!.docId === rows[i]!.docId && rows[j]!.domain === rows[i]!.domain) mask[i * n + j] = -1e9;
    }
  }
  const feeds: Record<string, Feed> = {
    input_ids: { data: b!.inputIds, dims: [n, b!.seqLen] },
    attention_mask: { data: b!.attentionMask, dims: [n, b!.seqLen] },
    position_ids: { data: positionIds(b!.seqLen), dims: [b!.seqLen] },
    doc_vectors: { data: docs, dims: [m, d] },
    labels: { data: labels, dims: [n, m] },
    logit_mask: { data: mask, dims: [n, m] },
  };
  const keep = 1 / (1 - dropout);
  for (const m of modules) {
    const w = weights.get(m.module)!;
    const r = w.A.length / m.inFeatures;
    feeds[m.A.name] = { data: w.A, dims: [r, m.inFeatures] };
    feeds[m.B.name] = { data: w.B, dims: [m.outFeatures, r] };
    const dm = new Float32Array(n * b!.seqLen * m.inFeatures);
    for (let i = 0; i < dm.length; i++) dm[i] = rand() < dropout ? 0 : keep;
    feeds[m.dropoutMask!.name] = { data: dm, dims: [n, b!.seqLen, m.inFeatures] };
  }
  return feeds;
}
