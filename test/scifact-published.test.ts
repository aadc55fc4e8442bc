/**
 * Slow real-data check (RR_REAL_DATA=1, run by .ci/run): the default model's nDCG@10 on BEIR
 * SciFact equals the published figure for all-MiniLM-L6-v2 (MTEB leaderboard: 64.51), which
 * exercises tokenizer, encoder, index, search and metrics end to end against a number this
 * project did not produce. Encodes 5,183 documents: a few minutes on two cores.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadBeirDataset } from "../src/data/beir.js";
import { evaluateDataset } from "../src/evaluation/evaluate.js";
import { Encoder } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { sharedDatasetsDir } from "../src/util/paths.js";
import { REAL_DATA, sharedForTests } from "./support/shared.js";

const datasets = sharedForTests(sharedDatasetsDir(), "../shared/datasets (or ROUTERRETRIEVER_DATASETS)", "scifact-published");
const enabled = REAL_DATA && datasets !== undefined;
if (datasets !== undefined && !enabled) console.warn("scifact-published skipped: set RR_REAL_DATA=1 to run it");

describe.skipIf(!enabled)("SciFact with all-MiniLM-L6-v2 (published: nDCG@10 64.51)", () => {
  it("reproduces the published nDCG@10 within 0.2 points", async () => {
    const cache = mkdtempSync(join(tmpdir(), "rr-scifact-"));
    try {
      const enc = await Encoder.load(defaultModelSpec(), { threads: 2 });
      const ds = await loadBeirDataset(join(datasets!, "scifact"), "test");
      const ev = await evaluateDataset(ds, enc, { cacheDir: cache, ks: [10, 100] });
      expect(ev.queries).toBe(300);
      expect(ev.mean["ndcg@10"]).toBeGreaterThan(0.6431);
      expect(ev.mean["ndcg@10"]).toBeLessThan(0.6471);
      await enc.close();
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 900_000);
});
