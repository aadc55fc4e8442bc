import { describe, expect, it } from "vitest";
import { addExpertToLibrary, removeExpertFromLibrary, scoreExpertOnLabels } from "./incremental.js";
import { buildPilotLibrary, libraryFromLabels, type PilotDomain } from "./pilots.js";
import { CountingEncoder, makeLabels, toyIndex, toyQueries, ToyEncoder } from "../../test/support/routing.js";
import { BASE, type PilotLibrary } from "./types.js";

/** Bit-level equality of every pilot vector, on top of toEqual's structural check. */
function expectSameLibrary(a: PilotLibrary, b: PilotLibrary): void {
  expect(a).toEqual(b);
  a.pilots.forEach((p, i) => expect(Buffer.from(p.vector.buffer, p.vector.byteOffset, p.vector.byteLength).equals(Buffer.from(b.pilots[i]!.vector.buffer, b.pilots[i]!.vector.byteOffset, b.pilots[i]!.vector.byteLength))).toBe(true));
}

const labels = makeLabels(
  [BASE, "a"],
  [{ name: "med", expert: "a" }, { name: "code" }],
  [
    { domain: "med", queryId: "m1", scores: { base: 0.1, a: 0.9 }, vector: [1, 0] },
    { domain: "med", queryId: "m2", scores: { base: 0.5, a: 0.4 }, vector: [0, 1] },
    { domain: "med", queryId: "m3", scores: { base: 0, a: 0 }, vector: [3, 3] },
    { domain: "code", queryId: "c1", scores: { base: 0.3, a: 0.2 }, vector: [0.1, 0.7] },
    { domain: "code", queryId: "c2", scores: { base: 0.3, a: 0.6 }, vector: [0.3, 0.1] },
  ],
);
const lib = libraryFromLabels(labels);
const newScores = new Map([
  ["med", new Map([["m1", 0.95], ["m2", 0.4], ["m3", 0.5]])],
  ["code", new Map([["c1", 0.9], ["c2", 0.6]])],
]);

describe("addExpertToLibrary / removeExpertFromLibrary", () => {
  it("adding regroups from stored scores plus the new expert's scores", () => {
    const { library, labels: next } = addExpertToLibrary(lib, labels, "code-x", newScores, { domain: "code" });
    expect(next.candidates).toEqual([BASE, "a", "code-x"]);
    // m3 was all-zero (skipped); the new expert retrieves for it, so it now has a label.
    expect(next.labels.map((l) => l.best)).toEqual(["code-x", BASE, "code-x", "code-x", "code-x"]);
    // c2 ties a/code-x at 0.6: code-x is code's own expert now, so it wins the tie.
    expect(library.pilots.map((p) => `${p.domain}:${p.expert}:${p.size}`)).toEqual(["med:base:1", "med:code-x:2", "code:code-x:2"]);
    expect(next.domains).toEqual([{ name: "med", expert: "a" }, { name: "code", expert: "code-x" }]);
  });

  it("add then remove gives back the original library and labels exactly", () => {
    const added = addExpertToLibrary(lib, labels, "code-x", newScores, { domain: "code" });
    const back = removeExpertFromLibrary(added.library, added.labels, "code-x");
    expectSameLibrary(back.library, lib);
    expect(back.labels).toEqual(labels);
  });

  it("removing regroups the expert's queries to their next-best candidate", () => {
    const { library, labels: next } = removeExpertFromLibrary(lib, labels, "a");
    expect(next.candidates).toEqual([BASE]);
    expect(next.domains).toEqual([{ name: "med" }, { name: "code" }]);
    expect(next.labels.map((l) => l.best)).toEqual([BASE, BASE, null, BASE, BASE]);
    expect(library.pilots.map((p) => `${p.domain}:${p.expert}:${p.size}`)).toEqual(["med:base:2", "code:base:2"]);
  });

  it("refuses what would corrupt the library", () => {
    expect(() => addExpertToLibrary(lib, labels, "a", newScores)).toThrow(/already/);
    expect(() => addExpertToLibrary(lib, labels, BASE, newScores)).toThrow(/cannot add/);
    expect(() => addExpertToLibrary(lib, labels, "x", new Map([["med", newScores.get("med")!]]))).toThrow(/code\/c1/);
    expect(() => addExpertToLibrary(lib, labels, "x", newScores, { domain: "med" })).toThrow(/already has its own expert/);
    expect(() => addExpertToLibrary({ ...lib, experts: [BASE] }, labels, "x", newScores)).toThrow(/does not match/);
    expect(() => removeExpertFromLibrary(lib, labels, BASE)).toThrow(/cannot be removed/);
    expect(() => removeExpertFromLibrary(lib, labels, "zzz")).toThrow(/not in the pilot library/);
  });
});

describe("incremental add on a toy corpus", () => {
  const index = toyIndex();
  const domains: PilotDomain[] = [
    { name: "one", index, ...toyQueries(["q0", "q1", "q2", "q3", "miss5"]), ignoreIdenticalIds: false },
    { name: "two", index, ...toyQueries(["q4", "q5", "q6", "q7", "q9"]), ignoreIdenticalIds: false },
  ];

  it("encodes only the new expert, once, and equals a full rebuild", async () => {
    const before = await buildPilotLibrary({ encoder: new ToyEncoder(), candidates: [BASE, "a"], domains });
    const counting = new CountingEncoder(new ToyEncoder());
    const scores = await scoreExpertOnLabels({ encoder: counting, labels: before.labels, domains, expertId: "c" });
    expect(counting.calls).toEqual([{ expertId: "c", rows: 10 }]);
    const added = addExpertToLibrary(before.library, before.labels, "c", scores);
    const rebuilt = await buildPilotLibrary({ encoder: new ToyEncoder(), candidates: [BASE, "a", "c"], domains });
    expectSameLibrary(added.library, rebuilt.library);
    expect(added.labels).toEqual(rebuilt.labels);
    // q1, q5, q9 (target d1) move to "c"; the others keep their old labels.
    expect(added.labels.labels.filter((l) => l.best === "c").map((l) => l.queryId)).toEqual(["q1", "q5", "q9"]);
  });
});
