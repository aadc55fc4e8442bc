import { describe, expect, it } from "vitest";
import { holdOutDev, pseudoQueryPairs, type TrainingPair } from "./pairs.js";

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
