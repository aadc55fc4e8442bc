/**
 * Regression: per-query nDCG@10 must follow trec_eval's tie order (equal scores: doc id
 * descending) over a BEIR-depth run, not over a run cut at 10. CoSQA's corpus is two-thirds
 * duplicates, and cutting at 10 moved its nDCG@10 from 33.0 to 27.4.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createIndex } from "../vectors/store.js";
import { scoreVectors } from "./scores.js";

const dir = mkdtempSync(join(tmpdir(), "rr-ties-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("scoreVectors with tied documents", () => {
  it("ranks ties beyond the cutoff by trec_eval's rule", () => {
    const index = createIndex(dir, { modelId: "m", dims: 2, pooling: "mean", normalized: true });
    // 12 identical documents; the relevant one has the greatest id but the last row, so a run
    // cut at 10 by row order never contains it, while trec_eval ranks it first.
    const ids = Array.from({ length: 12 }, (_, i) => `d${String(i).padStart(2, "0")}`);
    index.add(ids, Float32Array.from(ids.flatMap(() => [1, 0])));
    const table = scoreVectors({
      index,
      queries: [{ id: "q", text: "q" }],
      qrels: new Map([["q", new Map([["d11", 1]])]]),
      vectors: new Map([["base", Float32Array.from([1, 0])]]),
      ignoreIdenticalIds: false,
    });
    expect(table.get("base")!.get("q")).toBe(1);
  });
});
