import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sharedDatasetsDir } from "../util/paths.js";
import { sharedForTests } from "../../test/support/shared.js";
import { listQrelsSplits, loadBeirDataset, loadGeneratedQueries, loadQrels, type BeirDataset } from "./beir.js";

// The shared datasets live outside the checkout; without them these tests skip, saying so
// (and fail under RR_REAL_DATA=1).
const root = sharedForTests(sharedDatasetsDir(), "../shared/datasets (or ROUTERRETRIEVER_DATASETS)", "the shared-dataset tests");

// Counts from /work/shared/datasets/MANIFEST.md.
const EXPECTED: Record<string, { docs: number; testQueries: number }> = {
  scifact: { docs: 5183, testQueries: 300 },
  arguana: { docs: 8674, testQueries: 1406 },
  cosqa: { docs: 20604, testQueries: 500 },
  cranfield: { docs: 1400, testQueries: 225 },
  cisi: { docs: 1460, testQueries: 76 },
  cacm: { docs: 3204, testQueries: 52 },
};

const loaded = new Map<string, Promise<BeirDataset>>();
function load(name: string): Promise<BeirDataset> {
  let p = loaded.get(name);
  if (!p) {
    p = loadBeirDataset(join(root!, name), "test");
    loaded.set(name, p);
  }
  return p;
}

describe.skipIf(!root)("shared BEIR datasets match MANIFEST.md", () => {
  for (const [name, want] of Object.entries(EXPECTED)) {
    it(`${name}: ${want.docs} docs, ${want.testQueries} queries with test qrels`, async () => {
      expect(existsSync(join(root!, name))).toBe(true);
      const ds = await load(name);
      expect(ds.name).toBe(name);
      expect(ds.corpus.length).toBe(want.docs);
      expect(ds.qrels.size).toBe(want.testQueries);
      expect(ds.queries.length).toBe(want.testQueries);
      // Every test query has at least one relevant doc, so none is skipped by the metrics.
      for (const judgments of ds.qrels.values()) expect([...judgments.values()].some((g) => g >= 1)).toBe(true);
      expect(listQrelsSplits(join(root!, name))).toContain("test");
    });
  }

  it("scifact's CRLF qrels parse cleanly (no CR left in ids)", async () => {
    const ds = await load("scifact");
    expect(ds.qrels.get("1")?.get("31715818")).toBe(1);
    for (const [qid, judgments] of ds.qrels) {
      expect(qid).not.toMatch(/\r/);
      for (const docId of judgments.keys()) expect(docId).not.toMatch(/\r/);
    }
    let rows = 0;
    for (const judgments of ds.qrels.values()) rows += judgments.size;
    expect(rows).toBe(339);
  });

  it("scifact train: 919 pairs over 809 queries", async () => {
    const train = await loadQrels(join(root!, "scifact"), "train");
    expect(train.size).toBe(809);
    expect([...train.values()].reduce((n, m) => n + m.size, 0)).toBe(919);
  });

  it("cosqa train: 19,604 rows, 9,020 positive and 10,584 score 0", async () => {
    const train = await loadQrels(join(root!, "cosqa"), "train");
    const grades = [...train.values()].flatMap((m) => [...m.values()]);
    expect(grades.length).toBe(19604);
    expect(grades.filter((g) => g > 0).length).toBe(9020);
    expect(grades.filter((g) => g === 0).length).toBe(10584);
    expect(listQrelsSplits(join(root!, "cosqa"))).toEqual(["dev", "test", "train"]);
  });

  it("arguana: 25,844 generated (query, doc) pairs pointing into the corpus; 5 qrels docs absent", async () => {
    const ds = await load("arguana");
    const pairs = await loadGeneratedQueries(join(root!, "arguana"));
    expect(pairs.length).toBe(25844);
    const ids = new Set(ds.corpus.map((d) => d.id));
    expect(pairs.every((p) => ids.has(p.docId) && p.query.length > 0)).toBe(true);
    let absent = 0;
    for (const judgments of ds.qrels.values()) for (const docId of judgments.keys()) if (!ids.has(docId)) absent++;
    expect(absent).toBe(5);
  });
});
