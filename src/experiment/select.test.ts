import { describe, expect, it } from "vitest";
import { scoreVectors } from "../routing/scores.js";
import { BASE } from "../routing/types.js";
import { makeLabels, toyIndex, toyQueries, ToyEncoder } from "../../test/support/routing.js";
import { Libraries, objectiveDifference, selectRouter, type EvalSet } from "./select.js";

// Domain "x" has its own expert "b" (exact on every toy query); domain "y" has none and its
// queries sit elsewhere in routing space. Routing vectors are hand-made, retrieval is the toy's.
const index = toyIndex();
const enc = new ToyEncoder();
const X = [1, 0, 0, 0];
const Y = [0, 0, 0, 1];

async function set(domain: string, ids: string[], at: number[], ownExpert?: string, swap = false): Promise<EvalSet> {
  const { queries, qrels } = toyQueries(ids);
  const texts = queries.map((q) => q.text);
  let vectors = new Map([[BASE, await enc.encode(texts, BASE)], ["b", await enc.encode(texts, "b")]]);
  // A "test" world where the expert is the worse one: the selection must not notice.
  if (swap) vectors = new Map([[BASE, vectors.get("b")!], ["b", vectors.get(BASE)!]]);
  const table = scoreVectors({ index, queries, qrels, vectors, ignoreIdenticalIds: false });
  const base = new Float32Array(ids.length * 4);
  ids.forEach((_, i) => base.set(at.map((v, j) => v + 0.01 * ((i + j) % 3)), i * 4));
  return { domain, ...(ownExpert ? { ownExpert } : {}), queryIds: ids, texts, base, vectors, table, index, qrels, ignoreIdenticalIds: false };
}

const labels = makeLabels([BASE, "b"], [{ name: "x", expert: "b" }, { name: "y" }], [
  ...[...Array(10).keys()].map((i) => ({ domain: "x", queryId: `x${i}`, scores: { base: 0.5, b: 1 }, vector: X.map((v, j) => v + 0.02 * ((i + j) % 2)) })),
  ...[...Array(10).keys()].map((i) => ({ domain: "y", queryId: `y${i}`, scores: { base: 1, b: 0.5 }, vector: Y.map((v, j) => v + 0.02 * ((i + j) % 2)) })),
]);

describe("selectRouter", () => {
  it("chooses on dev: routing domain x to its expert wins there, and the choice ignores test", async () => {
    const dev = [await set("x", ["q0", "q1", "q2"], X, "b"), await set("y", ["q4", "q5"], Y)];
    const test = [await set("x", ["q8", "q9"], X, "b"), await set("y", ["q12"], Y)];
    const swapped = [await set("x", ["q8", "q9"], X, "b", true), await set("y", ["q12"], Y, undefined, true)];
    const a = selectRouter(new Libraries(labels), dev, test);
    const b = selectRouter(new Libraries(labels), dev, swapped);
    expect(a.chosen.dev.seen.x).toBeCloseTo(1, 6); // x's dev queries reached the exact expert
    expect(b.chosen.name).toBe(a.chosen.name);
    expect(b.chosen.objective).toBe(a.chosen.objective);
    expect(b.chosen.test.seen.x).not.toBe(a.chosen.test.seen.x); // the test numbers did change
    // Unseen: x's pilots and its expert are left out, so only the base remains for it.
    expect(a.chosen.dev.unseen.x).toBeCloseTo(a.results[0]!.dev.unseen.x!, 9);
    expect(a.results.length).toBeGreaterThan(100);
  });
});

describe("objectiveDifference", () => {
  it("is the objective's difference with its paired standard error over the queries", () => {
    const m = (o: Record<string, number>): ReadonlyMap<string, number> => new Map(Object.entries(o));
    const a = { seen: { x: m({ q1: 1, q2: 0 }) }, unseen: { x: m({ q1: 1, q2: 1 }) } };
    const b = { seen: { x: m({ q1: 0, q2: 0 }) }, unseen: { x: m({ q1: 1, q2: 1 }) } };
    // seen: differences [1, 0] (mean 0.5, sample variance 0.5); unseen: none. Two cells.
    const r = objectiveDifference(a, b);
    expect(r.diff).toBeCloseTo(0.25, 12);
    expect(r.se).toBeCloseTo(Math.sqrt(0.5 / 2 / 4), 12);
    expect(objectiveDifference(a, a)).toEqual({ diff: 0, se: 0 });
  });
});
