import { describe, expect, it } from "vitest";
import { sharedDatasetsDir } from "../util/paths.js";
import { sharedForTests } from "../../test/support/shared.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { counterArgumentPairs, holdOutDev, loadTrainingPairs, pseudoQueryPairs, queriesFromPairs, trainingData, type TrainingPair } from "./pairs.js";

describe("pseudo-queries", () => {
  it("uses a title with enough words, else a sentence of the text, else skips the doc", () => {
    const pairs = pseudoQueryPairs(
      [
        { id: "a", title: "Effects of aspirin on heart attacks", text: "Body text here." },
        { id: "b", title: "Short", text: "Tiny. This sentence has quite a few words in it. Ok." },
        { id: "c", title: "", text: "Too short." },
      ],
      1,
    );
    expect(pairs.map((p) => p.docId)).toEqual(["a", "b"]);
    expect(pairs[0]!.query).toBe("Effects of aspirin on heart attacks");
    expect(pairs[1]!.query).toBe("This sentence has quite a few words in it.");
  });
});

describe("held-out dev queries", () => {
  it("never puts one query in both halves and is deterministic for a seed", () => {
    const pairs: TrainingPair[] = Array.from({ length: 50 }, (_, i) => ({ queryId: `q${i % 20}`, query: `query ${i % 20}`, docId: `d${i}` }));
    const a = holdOutDev(pairs, 0.25, 100, 3);
    const b = holdOutDev(pairs, 0.25, 100, 3);
    expect([...a.dev.queries.keys()]).toEqual([...b.dev.queries.keys()]);
    expect(a.dev.queries.size).toBe(5);
    for (const p of a.train) expect(a.dev.queries.has(p.queryId)).toBe(false);
    const devPairs = [...a.dev.qrels.values()].reduce((n, m) => n + m.size, 0);
    expect(devPairs + a.train.length).toBe(50);
  });
});

describe("ArguAna's own argument -> counter-argument splits", () => {
  const doc = (id: string, text = `text of ${id}`): { id: string; title: string; text: string } => ({ id, title: "", text });
  const corpus = [
    doc("training-economy-abc-pro01a"),
    doc("training-economy-abc-pro01b"),
    doc("training-economy-abc-con02a"),
    doc("training-economy-abc-con02b"),
    doc("training-economy-abc-pro03a"), // its counter-argument is missing: no pair
    doc("validation-law-xyz-pro01a"),
    doc("validation-law-xyz-pro01b"),
    doc("test-health-qqq-pro01a"),
    doc("test-health-qqq-pro01b"),
  ];

  it("pairs each point of a split with its counter-argument, and never touches another split", () => {
    expect(counterArgumentPairs(corpus, "training")).toEqual([
      { queryId: "training-economy-abc-pro01a", query: "text of training-economy-abc-pro01a", docId: "training-economy-abc-pro01b" },
      { queryId: "training-economy-abc-con02a", query: "text of training-economy-abc-con02a", docId: "training-economy-abc-con02b" },
    ]);
    const validation = counterArgumentPairs(corpus, "validation");
    expect(validation.map((p) => p.docId)).toEqual(["validation-law-xyz-pro01b"]);
    for (const p of [...counterArgumentPairs(corpus, "training"), ...validation]) expect(p.queryId.startsWith("test-") || p.docId.startsWith("test-")).toBe(false);
  });
});

const shared = sharedForTests(sharedDatasetsDir(), "../shared/datasets (or ROUTERRETRIEVER_DATASETS)", "ArguAna's training-split test");

describe("training data of the shared ArguAna (real data)", () => {
  const dir = join(shared ?? "", "arguana");
  it.skipIf(shared === undefined || !existsSync(join(dir, "corpus.jsonl")))("auto picks the corpus's training split, judges on its validation split, and no test document is used", async () => {
    const t = await trainingData(dir, "auto", 0);
    expect(t.source).toBe("counter-arguments");
    expect(t.ignoreIdenticalIds).toBe(true);
    expect(t.pairs.length).toBe(2511);
    expect(t.dev.queries.size).toBe(459);
    expect(t.dev.ignoreIdenticalIds).toBe(true);
    const ids = [...t.pairs.flatMap((p) => [p.queryId, p.docId]), ...t.dev.queries.keys(), ...[...t.dev.qrels.values()].flatMap((m) => [...m.keys()])];
    expect(ids.filter((id) => id.startsWith("test-"))).toEqual([]);
    // GenQ stays available by name.
    expect((await loadTrainingPairs(dir, "generated", 0)).pairs.length).toBe(25844);
  });
});

describe("queriesFromPairs", () => {
  it("dedupes queries and collects their positives", () => {
    const { queries, qrels } = queriesFromPairs([
      { queryId: "1", query: "x", docId: "a" },
      { queryId: "2", query: "y", docId: "b" },
      { queryId: "1", query: "x", docId: "c" },
    ]);
    expect(queries).toEqual([{ id: "1", text: "x" }, { id: "2", text: "y" }]);
    expect([...qrels.get("1")!]).toEqual([["a", 1], ["c", 1]]);
  });
});
