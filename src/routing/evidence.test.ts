import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildRoutingEvidence, evidenceLibrary, loadRoutingEvidence, mergeLibraries, renameEvidenceExpert, saveRoutingEvidence, scoreEvidenceCandidates, type RoutingEvidence } from "./evidence.js";
import { libraryFromLabels } from "./pilots.js";
import { CountingEncoder, makeLabels, TOY_MODEL, toyIndex, toyQueries, ToyEncoder } from "../../test/support/routing.js";
import { BASE } from "./types.js";
import { route } from "./router.js";

const dir = mkdtempSync(join(tmpdir(), "rr-evidence-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const index = toyIndex();
const ids = ["q0", "q1", "q2", "q3", "q4", "q5", "miss6"];
const { queries, qrels } = toyQueries(ids);
const domain = { name: "toy", index, queries, qrels };

/** Toy expert "c" beats base only on targets t = 1 (q1, q5); elsewhere it ties base. */
async function evidenceForC(): Promise<RoutingEvidence> {
  return buildRoutingEvidence({ encoder: new ToyEncoder(), expert: "c", domain, querySource: "pseudo" });
}

const bits = (v: Float32Array): number[] => [...new Uint32Array(v.buffer, v.byteOffset, v.length)];

describe("routing evidence", () => {
  it("holds base and expert scores on the domain's scorable queries, and gives the domain's pilots", async () => {
    const ev = await evidenceForC();
    expect(ev.candidates).toEqual([BASE, "c"]);
    expect(ev.items.map((it) => it.queryId)).toEqual(["q0", "q1", "q2", "q3", "q4", "q5"]); // miss6's document is not in the corpus
    expect(ev.items[1]!.scores).toEqual({ base: 1 / Math.log2(3), c: 1 });
    expect(ev.items[1]!.docIds).toEqual(["d1"]);
    expect(ev.documentIds).toEqual(["d0", "d1", "d2", "d3"]);
    // Ties go to the domain's own expert (EVIDENCE_TIE_RULE): c ties base on q0, q2-q4 and wins
    // q1 and q5, so the domain's one pilot is c's, made of all six.
    const lib = evidenceLibrary(ev);
    expect(lib.pilots.map((p) => `${p.domain}:${p.expert}:${p.size}`)).toEqual(["toy:c:6"]);
    expect(evidenceLibrary(ev, undefined, "base-first").pilots.map((p) => `${p.domain}:${p.expert}:${p.size}`)).toEqual(["toy:base:4", "toy:c:2"]);
    // While an active candidate (b) has not been scored on the domain, the domain gives only the
    // expert's pilot: its base group came from base vs c alone.
    expect(evidenceLibrary(ev, new Set(["c", "b"]), "base-first").pilots.map((p) => `${p.domain}:${p.expert}:${p.size}`)).toEqual(["toy:c:2"]);
    expect(evidenceLibrary(ev, new Set(["c"]), "base-first").pilots.map((p) => `${p.domain}:${p.expert}:${p.size}`)).toEqual(["toy:base:4", "toy:c:2"]);
    // Without the expert admitted, the domain's queries all fall to base.
    expect(evidenceLibrary(ev, new Set()).pilots.map((p) => `${p.expert}:${p.size}`)).toEqual(["base:6"]);
  });

  it("round-trips through routing.json bit for bit", async () => {
    const ev = await evidenceForC();
    const path = join(dir, "routing.json");
    saveRoutingEvidence(path, ev);
    const back = loadRoutingEvidence(path, TOY_MODEL, 4);
    expect(back).toEqual(ev);
    back.items.forEach((it, i) => expect(bits(it.vector)).toEqual(bits(ev.items[i]!.vector)));
  });

  it("merging adds the domain's pilots and leaves every existing pilot as it was", async () => {
    const labels = makeLabels([BASE, "a"], [{ name: "med", expert: "a" }], [
      { domain: "med", queryId: "m1", scores: { base: 0.1, a: 0.9 }, vector: [1, 0, 0, 0] },
      { domain: "med", queryId: "m2", scores: { base: 0.5, a: 0.4 }, vector: [0, 1, 0, 0] },
    ]);
    const lib = { ...libraryFromLabels(labels), baseModelId: TOY_MODEL };
    const ev = await evidenceForC();
    const merged = mergeLibraries(lib, [evidenceLibrary(ev)])!;
    expect(merged.experts).toEqual([BASE, "a", "c"]);
    expect(merged.domains).toEqual(["med", "toy"]);
    expect(merged.pilots.slice(0, lib.pilots.length)).toEqual(lib.pilots);
    expect(() => mergeLibraries(merged, [evidenceLibrary(ev)])).toThrow(/domain "toy" already has pilots/);
    // The labelled queries follow (knn rule): med's rows first, c never scored there (NaN).
    const inst = merged.instances!;
    expect(inst.count).toBe(2 + ev.items.length);
    expect(inst.domains.slice(0, 3)).toEqual(["med", "med", "toy"]);
    expect(Number.isNaN(inst.scores.get("c")![0]!)).toBe(true);
    expect(inst.scores.get("c")![2]).toBe(Math.fround(ev.items[0]!.scores.c!));
    expect(Number.isNaN(inst.scores.get("a")![2]!)).toBe(true);
    // So under knn a med query keeps its route (c has no score among its neighbours)...
    const knn = { aggregate: "knn", similarity: "cosine", neighbours: 1 } as const;
    const medQuery = Float32Array.from([1, 0.1, 0, 0]);
    expect(route(merged, medQuery, knn)[0]!.expert).toBe(route(lib, medQuery, knn)[0]!.expert);
    expect(route(merged, medQuery, knn)[0]!.scores.c).toBe(-Infinity);
    expect(mergeLibraries(lib, [])).toBe(lib);
  });

  it("scores other experts on the domain only when asked, with one encoder call each", async () => {
    const ev = await evidenceForC();
    const enc = new CountingEncoder(new ToyEncoder());
    const more = await scoreEvidenceCandidates({ encoder: enc, evidence: ev, index, candidates: ["b", "c", BASE] });
    expect(enc.calls).toEqual([{ expertId: "b", rows: 6 }]);
    expect(more.candidates).toEqual([BASE, "c", "b"]);
    // b retrieves exactly for every query; on q1/q5 it ties c, the domain's own expert, which keeps them.
    expect(evidenceLibrary(more).pilots.map((p) => `${p.expert}:${p.size}`)).toEqual(["c:2", "b:4"]);
    expect(evidenceLibrary(more, new Set(["c"]))).toEqual(evidenceLibrary(ev));
    // Once b is scored, every group counts again, base's included.
    expect(evidenceLibrary(more, new Set(["c", "b"]), "base-first").pilots.map((p) => `${p.expert}:${p.size}`)).toEqual(["c:2", "b:4"]);
  });

  it("refuses to score against documents other than the evidence's", async () => {
    const ev = await evidenceForC();
    const other = { ...ev, documentIds: [...ev.documentIds, "d9"] };
    await expect(scoreEvidenceCandidates({ encoder: new ToyEncoder(), evidence: other, index, candidates: ["b"] })).rejects.toThrow(/lacks 1 of them \(e.g. "d9"\)/);
  });

  it("renames the expert everywhere", async () => {
    const ev = renameEvidenceExpert(await evidenceForC(), "mine");
    expect(ev.candidates).toEqual([BASE, "mine"]);
    expect(Object.keys(ev.items[0]!.scores)).toEqual([BASE, "mine"]);
    expect(evidenceLibrary(ev).domains).toEqual(["toy"]);
  });

  describe("loading refuses a bad file, naming the field", async () => {
    const path = join(dir, "bad.json");
    const good = await evidenceForC();
    saveRoutingEvidence(path, good);
    const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown> & { items: Record<string, unknown>[] };
    const nan = Buffer.alloc(16);
    nan.writeFloatLE(NaN, 4);
    const cases: Array<[string, (j: typeof json) => void, RegExp]> = [
      ["another base model", (j) => (j.baseModelId = "other/model"), /MODEL_MISMATCH|made with base model "other\/model"/],
      ["a non-finite vector value", (j) => (j.items[0]!.vector = nan.toString("base64")), /items\[0\]\.vector: component 1 is NaN \(vectors must be finite\)/],
      ["a short vector", (j) => (j.items[0]!.vector = Buffer.alloc(8).toString("base64")), /items\[0\]\.vector: decodes to 8 bytes/],
      ["a missing score", (j) => delete (j.items[1]!.scores as Record<string, number>).c, /items\[1\]\.scores\.c: expected a finite number/],
      ["a score above 1", (j) => ((j.items[1]!.scores as Record<string, number>).c = 1.5), /items\[1\]\.scores\.c: nDCG@10 must be within/],
      ["a document outside the domain", (j) => (j.items[2]!.docIds = ["zz"]), /items\[2\]\.docIds: "zz" is not in documentIds/],
      ["candidates without the expert", (j) => (j.candidates = [BASE]), /candidates: must include "base" and the expert "c"/],
      ["a repeated query", (j) => (j.items[1]!.queryId = "q0"), /items\[1\]\.queryId: "q0" appears twice/],
      ["wrong dims", (j) => (j.dims = 8), /dims 8, but the model embeds in 4/],
    ];
    for (const [what, edit, msg] of cases) {
      it(what, () => {
        const j = JSON.parse(JSON.stringify(json)) as typeof json;
        edit(j);
        writeFileSync(path, JSON.stringify(j));
        expect(() => loadRoutingEvidence(path, TOY_MODEL, 4)).toThrow(msg);
        try {
          loadRoutingEvidence(path, TOY_MODEL, 4);
        } catch (err) {
          expect((err as Error).message.startsWith(path)).toBe(true);
        }
      });
    }
  });
});
