/**
 * Test helpers for routing: hand-made pilot labels, a tiny in-memory corpus with a fake
 * candidate encoder whose retrieval quality per candidate is known in advance, and a counting
 * wrapper around any CandidateEncoder (used to prove that adding an expert encodes only it).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RouterRetrieverError } from "../../src/errors.js";
import type { Qrels } from "../../src/data/beir.js";
import { createIndex, type VectorIndex } from "../../src/vectors/store.js";
import type { EncodeOptions } from "../../src/model/encoder.js";
import { relabel, type AllZeroRule, type DomainInfo, type PilotLabels } from "../../src/routing/pilots.js";
import type { CandidateEncoder } from "../../src/routing/scores.js";

export interface LabelRow {
  readonly domain: string;
  readonly queryId: string;
  readonly scores: Readonly<Record<string, number>>;
  readonly vector: readonly number[];
}

/** Labels from a score table, best candidates computed by the real rule. */
export function makeLabels(candidates: readonly string[], domains: readonly DomainInfo[], rows: readonly LabelRow[], allZero: AllZeroRule = "skip"): PilotLabels {
  const dims = rows[0]?.vector.length ?? 2;
  return relabel({
    baseModelId: "test/model",
    dims,
    candidates,
    domains,
    allZero,
    sampling: { maxQueriesPerDomain: 500, seed: 0 },
    labels: rows.map((r) => ({ domain: r.domain, queryId: r.queryId, text: `text of ${r.queryId}`, scores: r.scores, vector: Float32Array.from(r.vector) })),
  });
}

/** Records every encode call (expert id and row count) and passes it on. */
export class CountingEncoder implements CandidateEncoder {
  readonly calls: Array<{ readonly expertId: string; readonly rows: number }> = [];
  constructor(private readonly inner: CandidateEncoder) {}
  get spec(): { readonly id: string } {
    return this.inner.spec;
  }
  get dims(): number {
    return this.inner.dims;
  }
  async encode(texts: readonly string[], expertId: string, opts?: EncodeOptions): Promise<Float32Array> {
    this.calls.push({ expertId, rows: texts.length });
    return this.inner.encode(texts, expertId, opts);
  }
}

export const TOY_MODEL = "test/toy-model";
export const TOY_DIMS = 4;

/**
 * Four documents on the axes of R^4. Query text "q<i>" wants document d<i mod 4>; "miss<i>"
 * wants a document the index does not hold (every candidate scores 0 on it).
 */
export function toyIndex(): VectorIndex {
  const dir = mkdtempSync(join(tmpdir(), "rr-routing-"));
  const index = createIndex(join(dir, "index"), { modelId: TOY_MODEL, dims: TOY_DIMS, pooling: "mean", normalized: true });
  const v = new Float32Array(16);
  for (let i = 0; i < 4; i++) v[i * 4 + i] = 1;
  index.add(["d0", "d1", "d2", "d3"], v);
  return index;
}

export function toyQueries(ids: readonly string[]): { queries: { id: string; text: string }[]; qrels: Qrels } {
  const qrels: Qrels = new Map();
  const queries = ids.map((id) => {
    const m = /^(q|miss)(\d+)$/.exec(id);
    if (!m) throw new Error(`bad toy query id ${id}`);
    qrels.set(id, new Map([[m[1] === "q" ? `d${Number(m[2]) % 4}` : "nowhere", 1]]));
    return { id, text: id };
  });
  return { queries, qrels };
}

/**
 * Known quality per candidate on query q<i> (target doc t = i mod 4):
 *  - "base": 0.8 e_{t+1} + 0.6 e_t, so the target ranks 2nd (nDCG@10 = 1/log2(3));
 *  - "a": exactly e_t (nDCG 1) when t is even, else like base;
 *  - "b": exactly e_t always;
 *  - "c": like base, except exactly e_t when t = 1.
 */
export class ToyEncoder implements CandidateEncoder {
  readonly spec = { id: TOY_MODEL };
  readonly dims = TOY_DIMS;
  async encode(texts: readonly string[], expertId: string): Promise<Float32Array> {
    const out = new Float32Array(texts.length * 4);
    texts.forEach((text, r) => {
      const m = /^(q|miss)(\d+)$/.exec(text);
      if (!m) throw new RouterRetrieverError("BAD_INPUT", `toy encoder: bad text ${text}`);
      const i = Number(m[2]);
      const t = i % 4;
      const exact = expertId === "b" || (expertId === "a" && t % 2 === 0) || (expertId === "c" && t === 1);
      if (!["base", "a", "b", "c"].includes(expertId)) throw new RouterRetrieverError("NOT_FOUND", `toy encoder: no expert ${expertId}`);
      if (exact) out[r * 4 + t] = 1;
      else {
        out[r * 4 + ((t + 1) % 4)] = 0.8;
        out[r * 4 + t] = 0.6;
      }
    });
    return out;
  }
}
