import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { domainModelOf, fitDomainModel } from "./domain-model.js";
import type { PilotInstances } from "./types.js";

interface Golden {
  readonly shrinkage: number;
  readonly classes: string[];
  readonly rows: number[][];
  readonly labels: string[];
  readonly queries: number[][];
  readonly probabilities: number[][];
}

const golden = JSON.parse(readFileSync(new URL("../../test/support/golden/lda-sklearn.json", import.meta.url), "utf8")) as Golden;

function instancesOf(rows: number[][], domains: string[]): PilotInstances {
  const d = rows[0]!.length;
  const vectors = new Float32Array(rows.length * d);
  rows.forEach((r, i) => vectors.set(r, i * d));
  return { count: rows.length, vectors, domains, scores: new Map() };
}

describe("fitDomainModel", () => {
  it("gives scikit-learn's LDA posteriors (lsqr, shrunk covariance, equal priors)", () => {
    const d = golden.rows[0]!.length;
    const m = fitDomainModel(instancesOf(golden.rows, golden.labels), d, golden.shrinkage);
    golden.queries.forEach((qv, i) => {
      const p = m.probabilities(Float32Array.from(qv), 0);
      golden.classes.forEach((c, k) => expect(p[m.domains.indexOf(c)]!).toBeCloseTo(golden.probabilities[i]![k]!, 4));
    });
  });

  it("reads a query at any offset and at any length (it is normalised first)", () => {
    const d = golden.rows[0]!.length;
    const m = fitDomainModel(instancesOf(golden.rows, golden.labels), d, golden.shrinkage);
    const qv = golden.queries[0]!;
    const padded = Float32Array.from([9, 9, ...qv.map((x) => 3 * x)]);
    const a = m.probabilities(Float32Array.from(qv), 0);
    const b = m.probabilities(padded, 2);
    a.forEach((v, k) => expect(b[k]!).toBeCloseTo(v, 6));
  });

  it("separates domains along a direction their topics do not share", () => {
    // Two domains on the same three topics (axes 0-2); only axis 3 tells them apart, weakly.
    const rows: number[][] = [];
    const domains: string[] = [];
    for (let t = 0; t < 3; t++) {
      for (let j = 0; j < 20; j++) {
        for (const [dom, s] of [["claims", 0.15], ["abstracts", -0.15]] as const) {
          const v = [0, 0, 0, s, Math.sin(j) * 0.05];
          v[t] = 1;
          rows.push(v);
          domains.push(dom);
        }
      }
    }
    const m = fitDomainModel(instancesOf(rows, domains), 5, 0.05);
    const p = m.probabilities(Float32Array.from([0, 1, 0, 0.1, 0]), 0);
    expect(p[m.domains.indexOf("claims")]!).toBeGreaterThan(0.9);
  });

  it("leaves out evidence added with a new expert, so adding one does not move the model under other queries", () => {
    const d = golden.rows[0]!.length;
    const n = golden.rows.length;
    const own: PilotInstances = { ...instancesOf(golden.rows, golden.labels), scores: new Map([["base", new Float32Array(n).fill(0.5)], ["a", new Float32Array(n).fill(0.6)]]) };
    // Three rows of a new domain, scored by the base and the new expert "b" only.
    const extra = golden.queries.slice(0, 3);
    const grown: PilotInstances = {
      count: n + 3,
      vectors: Float32Array.from([...own.vectors, ...extra.flat()]),
      domains: [...golden.labels, "new", "new", "new"],
      scores: new Map([
        ["base", Float32Array.from([...own.scores.get("base")!, 0.5, 0.5, 0.5])],
        ["a", Float32Array.from([...own.scores.get("a")!, NaN, NaN, NaN])],
        ["b", Float32Array.from([...new Array<number>(n).fill(NaN), 0.7, 0.7, 0.7])],
      ]),
    };
    const before = domainModelOf(own, d);
    const after = domainModelOf(grown, d);
    expect(after.domains).toEqual(before.domains);
    const qv = Float32Array.from(golden.queries[4]!);
    expect([...after.probabilities(qv, 0)]).toEqual([...before.probabilities(qv, 0)]);
  });

  it("is fitted once per library and refuses a shrinkage outside (0, 1]", () => {
    const inst = instancesOf(golden.rows, golden.labels);
    expect(domainModelOf(inst, 8)).toBe(domainModelOf(inst, 8));
    expect(() => fitDomainModel(inst, 8, 0)).toThrow(RouterRetrieverError);
  });
});
