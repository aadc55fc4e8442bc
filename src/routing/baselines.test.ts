import { describe, expect, it } from "vitest";
import { rng } from "../util/random.js";
import { classificationHeadRouter, datasetRouter, expertClassifierRouter, fixedRouter } from "./baselines.js";
import { datasetOracle, instanceOracle, routedScore } from "./oracles.js";
import { makeLabels, type LabelRow } from "../../test/support/routing.js";
import { BASE } from "./types.js";
import type { PilotLabels } from "./pilots.js";

/** Three domains clustered around three directions of R^8 (only the domain matters to the dataset router). */
function clusteredLabels(perDomain: number, seed: number) {
  const rand = rng(seed);
  const d = 8;
  const rows: LabelRow[] = [];
  const domains = ["med", "code", "misc"];
  domains.forEach((dom, k) => {
    for (let i = 0; i < perDomain; i++) {
      const v = Array.from({ length: d }, () => 0.3 * (2 * rand() - 1));
      v[k] = (v[k] ?? 0) + 2;
      // Some all-zero queries: the dataset router samples them too (it needs only the domain).
      const scores = i % 5 === 0 ? { base: 0, med: 0, code: 0 } : { base: 0.5, med: dom === "med" ? 0.9 : 0.1, code: dom === "code" ? 0.9 : 0.1 };
      rows.push({ domain: dom, queryId: `${dom}-${i}`, scores, vector: v });
    }
  });
  return makeLabels([BASE, "med", "code"], [{ name: "med", expert: "med" }, { name: "code", expert: "code" }, { name: "misc" }], rows);
}

function vectors(labels: PilotLabels): Float32Array {
  const out = new Float32Array(labels.labels.length * labels.dims);
  labels.labels.forEach((l, i) => out.set(l.vector, i * labels.dims));
  return out;
}

describe("datasetRouter", () => {
  const train = clusteredLabels(150, 1);
  const test = clusteredLabels(20, 2);

  it("samples 100 queries per domain, seeded, and routes to the nearest one's domain expert", () => {
    const r = datasetRouter(train, { seed: 5 });
    expect(r.sample).toHaveLength(300);
    expect(datasetRouter(train, { seed: 5 }).sample).toEqual(r.sample);
    expect(datasetRouter(train, { seed: 6 }).sample).not.toEqual(r.sample);
    expect([...r.domainExperts]).toEqual([["med", "med"], ["code", "code"], ["misc", BASE]]);
    const ds = r.route(vectors(test), test.labels.length);
    const want = test.labels.map((l) => (l.domain === "misc" ? BASE : l.domain));
    expect(ds.map((x) => x.expert)).toEqual(want);
    expect(Object.keys(ds[0]!.scores)).toEqual([BASE, "med", "code"]);
  });

  it("takes the caller's domain -> expert mapping", () => {
    const r = datasetRouter(train, { domainExperts: { misc: "med" }, perDomain: 10 });
    expect(r.domainExperts.get("misc")).toBe("med");
    expect(() => datasetRouter(train, { domainExperts: { nope: "med" } })).toThrow(/nope/);
  });
});

/** Best candidate = argmax of coordinates 0..2 (base, med, code): linearly separable for a softmax head. */
function linearLabels(n: number, seed: number) {
  const rand = rng(seed);
  const cands = [BASE, "med", "code"];
  const rows: LabelRow[] = [];
  for (let i = 0; i < n; i++) {
    const v = Array.from({ length: 6 }, () => 2 * rand() - 1);
    const k = v.slice(0, 3).indexOf(Math.max(...v.slice(0, 3)));
    const scores = Object.fromEntries(cands.map((c, j) => [c, j === k ? 0.8 : 0.2]));
    rows.push({ domain: i % 2 ? "med" : "code", queryId: `q${i}`, scores, vector: v });
  }
  return makeLabels(cands, [{ name: "med", expert: "med" }, { name: "code", expert: "code" }], rows);
}

describe("classifier routers learn which candidate is best", () => {
  const train = linearLabels(400, 3);
  const test = linearLabels(100, 4);
  const accuracy = (experts: string[]): number => experts.filter((e, i) => e === test.labels[i]!.best).length / experts.length;

  it("ExpertClassifierRouter: one binary classifier per candidate", () => {
    const r = expertClassifierRouter(train, { steps: 300 });
    expect(r.models).toHaveLength(3);
    const ds = r.route(vectors(test), test.labels.length);
    expect(accuracy(ds.map((d) => d.expert))).toBeGreaterThanOrEqual(0.9);
    for (const d of ds) for (const p of Object.values(d.scores)) expect(p).toBeGreaterThanOrEqual(0);
  });

  it("ClassificationHeadRouter: one balanced softmax head", () => {
    const r = classificationHeadRouter(train, { steps: 300 });
    const ds = r.route(vectors(test), test.labels.length);
    expect(accuracy(ds.map((d) => d.expert))).toBeGreaterThanOrEqual(0.95);
    for (const d of ds) expect(Object.values(d.scores).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it("trains only on labelled queries (all-zero ones carry no target)", () => {
    const rows: LabelRow[] = [
      { domain: "x", queryId: "1", scores: { base: 0, a: 0 }, vector: [1, 0] },
      { domain: "x", queryId: "2", scores: { base: 0.5, a: 0.1 }, vector: [0, 1] },
      { domain: "x", queryId: "3", scores: { base: 0.1, a: 0.5 }, vector: [1, 1] },
    ];
    const labels = makeLabels([BASE, "a"], [{ name: "x" }], rows);
    const r = classificationHeadRouter(labels, { steps: 100 });
    expect(r.route(Float32Array.from([0, 1, 1, 1]), 2).map((d) => d.expert)).toEqual([BASE, "a"]);
  });
});

describe("oracles and routed scores over a score table", () => {
  // Dyadic values, so every mean below is exact.
  const table = new Map([
    [BASE, new Map([["q1", 0.5], ["q2", 0.25], ["q3", 0], ["q4", 0.25]])],
    ["a", new Map([["q1", 0.75], ["q2", 0.125], ["q3", 0], ["q4", 0.25]])],
    ["b", new Map([["q1", 0.125], ["q2", 0.5], ["q3", 0.25], ["q4", 0.25]])],
  ]);

  it("DatasetOracle: the best single candidate by mean", () => {
    const o = datasetOracle(table);
    expect(o.means).toEqual({ base: 0.25, a: 0.28125, b: 0.28125 });
    // a and b tie on the mean: no base in the tie, so candidate order decides.
    expect(o.expert).toBe("a");
    expect(o.ndcg).toBe(0.28125);
    expect(o.queries).toBe(4);
    expect(datasetOracle(table, [BASE]).expert).toBe(BASE);
  });

  it("InstanceOracle: the best candidate per query, base first on ties", () => {
    const o = instanceOracle(table);
    expect(o.ndcg).toBe(0.4375);
    expect(o.perQuery.get("q4")).toEqual({ expert: BASE, ndcg: 0.25 });
    expect(o.counts).toEqual({ base: 1, a: 1, b: 2 });
  });

  it("routedScore reads each routed query's score from the table", () => {
    const s = routedScore(table, ["q1", "q2", "q3", "q4", "unjudged"], ["a", BASE, "b", "b", "a"]);
    expect(s.ndcg).toBe(0.375);
    expect(s.counts).toEqual({ a: 1, base: 1, b: 2 });
    const fixed = fixedRouter(BASE).route(new Float32Array(0), 4);
    expect(routedScore(table, ["q1", "q2", "q3", "q4"], fixed).ndcg).toBe(0.25);
    expect(() => routedScore(table, ["q1"], ["a"])).toThrow(/q2/);
    expect(() => routedScore(table, ["q1", "q2", "q3", "q4"], ["zz", "a", "a", "a"])).toThrow(/zz/);
  });

  it("refuses a table whose candidates were scored on different queries", () => {
    const bad = new Map([...table, ["c", new Map([["q1", 1]])]]);
    expect(() => datasetOracle(bad)).toThrow(/different queries/);
  });
});
