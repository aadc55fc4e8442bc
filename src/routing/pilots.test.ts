import { describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { bestCandidate, buildPilotLibrary, groupCounts, libraryFromLabels, preferenceOrder, TIE_EPS } from "./pilots.js";
import { CountingEncoder, makeLabels, toyIndex, toyQueries, ToyEncoder } from "../../test/support/routing.js";
import { BASE } from "./types.js";

const C = [BASE, "a", "b"];

describe("bestCandidate: argmax with the documented tie and all-zero rules", () => {
  it("takes the strict maximum", () => {
    expect(bestCandidate({ base: 0.2, a: 0.5, b: 0.4 }, C, undefined, "skip")).toBe("a");
  });
  it("prefers base on a tie, then the domain's own expert, then candidate order", () => {
    expect(bestCandidate({ base: 0.5, a: 0.5, b: 0.5 }, C, "b", "skip")).toBe(BASE);
    expect(bestCandidate({ base: 0.1, a: 0.5, b: 0.5 }, C, "b", "skip")).toBe("b");
    expect(bestCandidate({ base: 0.1, a: 0.5, b: 0.5 }, C, undefined, "skip")).toBe("a");
    expect(bestCandidate({ base: 0.1, a: 0.5, b: 0.5 }, C, "other", "skip")).toBe("a");
  });
  it("treats scores within TIE_EPS as tied, and no more", () => {
    expect(bestCandidate({ base: 0.5 - TIE_EPS / 2, a: 0.5, b: 0 }, C, undefined, "skip")).toBe(BASE);
    expect(bestCandidate({ base: 0.5 - 1e-6, a: 0.5, b: 0 }, C, undefined, "skip")).toBe("a");
  });
  it("all-zero queries: null under 'skip', a full tie (-> base) under 'keep'", () => {
    expect(bestCandidate({ base: 0, a: 0, b: 0 }, C, "a", "skip")).toBeNull();
    expect(bestCandidate({ base: 0, a: 0, b: 0 }, C, "a", "keep")).toBe(BASE);
    expect(bestCandidate({ a: 0, b: 0 }, ["a", "b"], "b", "keep")).toBe("b");
  });
  it("refuses a missing or non-finite score", () => {
    expect(() => bestCandidate({ base: 0.5, a: 0.1 }, C, undefined, "skip")).toThrow(/"b"/);
    expect(() => bestCandidate({ base: 0.5, a: NaN, b: 0 }, C, undefined, "skip")).toThrow(RouterRetrieverError);
  });
  it("preference order", () => {
    expect(preferenceOrder(["a", "b", BASE, "c"], "c")).toEqual([BASE, "c", "a", "b"]);
    expect(preferenceOrder(["a", "b", BASE, "c"], "c", "own-expert-first")).toEqual(["c", BASE, "a", "b"]);
    expect(bestCandidate({ base: 0.5, a: 0.5, b: 0.5 }, C, "b", "skip", "own-expert-first")).toBe("b");
  });
});

describe("libraryFromLabels: one pilot per (domain, best expert), the mean base embedding", () => {
  const labels = makeLabels(
    C,
    [{ name: "med", expert: "a" }, { name: "code" }],
    [
      { domain: "med", queryId: "m1", scores: { base: 0.1, a: 0.9, b: 0.2 }, vector: [1, 0, 0] },
      { domain: "med", queryId: "m2", scores: { base: 0.3, a: 0.6, b: 0.6 }, vector: [0, 1, 0] }, // tie a/b -> own expert a
      { domain: "med", queryId: "m3", scores: { base: 0.7, a: 0.7, b: 0.1 }, vector: [0, 0, 1] }, // tie base/a -> base
      { domain: "med", queryId: "m4", scores: { base: 0, a: 0, b: 0 }, vector: [9, 9, 9] }, // all zero: skipped
      { domain: "code", queryId: "c1", scores: { base: 0.2, a: 0.6, b: 0.6 }, vector: [2, 0, 0] }, // no own expert -> a
      { domain: "code", queryId: "c2", scores: { base: 0.2, a: 0.1, b: 0.3 }, vector: [0, 2, 0] },
      { domain: "code", queryId: "c3", scores: { base: 0.2, a: 0.1, b: 0.4 }, vector: [0, 0, 2] },
    ],
  );

  it("labels each query by the rules", () => {
    expect(labels.labels.map((l) => l.best)).toEqual(["a", "a", BASE, null, "a", "b", "b"]);
    expect(groupCounts(labels)).toEqual({ med: { a: 2, base: 1, none: 1 }, code: { a: 1, b: 2 } });
  });

  it("groups and averages in domain order then candidate order", () => {
    const lib = libraryFromLabels(labels);
    expect(lib.experts).toEqual(C);
    expect(lib.domains).toEqual(["med", "code"]);
    expect(lib.pilots.map((p) => [p.domain, p.expert, p.size, [...p.vector]])).toEqual([
      ["med", BASE, 1, [0, 0, 1]],
      ["med", "a", 2, [0.5, 0.5, 0]],
      ["code", "a", 1, [2, 0, 0]],
      ["code", "b", 2, [0, 1, 1]],
    ]);
  });

  it("under 'keep' the all-zero query joins the base group", () => {
    const keep = makeLabels(C, labels.domains, labels.labels.map((l) => ({ ...l, vector: [...l.vector] })), "keep");
    const basePilot = libraryFromLabels(keep).pilots.find((p) => p.domain === "med" && p.expert === BASE)!;
    expect(basePilot.size).toBe(2);
    expect([...basePilot.vector]).toEqual([4.5, 4.5, 5]);
  });
});

describe("buildPilotLibrary over a toy corpus with known per-candidate quality", () => {
  const index = toyIndex();
  const evenOdd = toyQueries(["q0", "q1", "q2", "q3", "miss5"]);
  const second = toyQueries(["q4", "q5", "q6", "q7"]);

  it("scores, labels and groups as Algorithm 1 says, with one encoder call per candidate", async () => {
    const enc = new CountingEncoder(new ToyEncoder());
    const { library, labels } = await buildPilotLibrary({
      encoder: enc,
      candidates: C,
      domains: [
        { name: "one", index, ...evenOdd, expert: "b", ignoreIdenticalIds: false },
        { name: "two", index, ...second, ignoreIdenticalIds: false },
      ],
    });
    expect(enc.calls).toEqual([
      { expertId: BASE, rows: 9 },
      { expertId: "a", rows: 9 },
      { expertId: "b", rows: 9 },
    ]);
    const one = labels.labels.filter((l) => l.domain === "one");
    expect(one.map((l) => l.queryId)).toEqual(["q0", "q1", "q2", "q3", "miss5"]);
    expect(one[0]!.scores[BASE]).toBeCloseTo(1 / Math.log2(3), 12);
    expect(one[0]!.scores.a).toBe(1);
    // Domain "one" owns b: even queries tie a/b -> b; odd ones only b is exact; miss5 is all zero.
    expect(one.map((l) => l.best)).toEqual(["b", "b", "b", "b", null]);
    // Domain "two" owns nothing: even ties a/b -> a by candidate order.
    expect(labels.labels.filter((l) => l.domain === "two").map((l) => l.best)).toEqual(["a", "b", "a", "b"]);
    expect(library.pilots.map((p) => `${p.domain}:${p.expert}:${p.size}`)).toEqual(["one:b:4", "two:a:2", "two:b:2"]);
    expect(labels.domains).toEqual([{ name: "one", expert: "b" }, { name: "two" }]);
    expect(library.baseModelId).toBe("test/toy-model");
  });

  it("caps the training queries per domain with a seeded sample kept in input order", async () => {
    const qs = toyQueries(Array.from({ length: 20 }, (_, i) => `q${i}`));
    const build = (seed: number) =>
      buildPilotLibrary({ encoder: new ToyEncoder(), candidates: C, domains: [{ name: "d", index, ...qs, ignoreIdenticalIds: false }], maxQueriesPerDomain: 6, seed });
    const a = (await build(1)).labels.labels.map((l) => l.queryId);
    const b = (await build(1)).labels.labels.map((l) => l.queryId);
    const c = (await build(2)).labels.labels.map((l) => l.queryId);
    expect(a).toHaveLength(6);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.map((id) => Number(id.slice(1)))).toEqual([...a.map((id) => Number(id.slice(1)))].sort((x, y) => x - y));
  });

  it("refuses an index of another model, duplicate domains and duplicate candidates", async () => {
    const other = { ...new ToyEncoder(), spec: { id: "other/model" }, encode: new ToyEncoder().encode };
    await expect(buildPilotLibrary({ encoder: other, candidates: C, domains: [{ name: "d", index, ...second }] })).rejects.toThrow(/holds vectors of/);
    await expect(
      buildPilotLibrary({ encoder: new ToyEncoder(), candidates: C, domains: [{ name: "d", index, ...second }, { name: "d", index, ...second }] }),
    ).rejects.toThrow(/twice/);
    await expect(buildPilotLibrary({ encoder: new ToyEncoder(), candidates: ["a", "a"], domains: [] })).rejects.toThrow(/twice/);
  });
});
