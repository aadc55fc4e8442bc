import { describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { nearestInstances, pilotRouter, route } from "./router.js";
import { BASE, PAPER_RULE, type Pilot, type PilotInstances, type PilotLibrary } from "./types.js";

function lib(pilots: Array<[string, number[]]>, experts?: string[]): PilotLibrary {
  const ps: Pilot[] = pilots.map(([expert, v], i) => ({ expert, domain: `d${i}`, vector: Float32Array.from(v), size: 1 }));
  return {
    baseModelId: "test/model",
    dims: pilots[0]![1].length,
    experts: experts ?? [...new Set(pilots.map((p) => p[0]))],
    domains: ps.map((p) => p.domain),
    pilots: ps,
  };
}

const q = (...v: number[]): Float32Array => Float32Array.from(v);

describe("route", () => {
  it("mean (paper) and max (reference code) disagree on a constructed case", () => {
    // Expert A: one pilot right on the query (sim 0.9), one opposite (-0.5): mean 0.2, max 0.9.
    // Expert B: one pilot with sim 0.5: mean 0.5, max 0.5.
    const L = lib([
      ["A", [0.9, 0]],
      ["A", [-0.5, 0]],
      ["B", [0.5, 0.3]],
    ]);
    const mean = route(L, q(1, 0), { aggregate: "mean", similarity: "dot" })[0]!;
    const max = route(L, q(1, 0), { aggregate: "max", similarity: "dot" })[0]!;
    expect(mean.expert).toBe("B");
    expect(mean.scores.A).toBeCloseTo(0.2, 6);
    expect(mean.scores.B).toBeCloseTo(0.5, 6);
    expect(max.expert).toBe("A");
    expect(max.scores.A).toBeCloseTo(0.9, 6);
  });

  it("dot prefers a long pilot at an angle, cosine the aligned short one", () => {
    const L = lib([
      ["A", [3, 3]],
      ["B", [0.5, 0]],
    ]);
    const dot = route(L, q(1, 0), { aggregate: "mean", similarity: "dot" })[0]!;
    const cos = route(L, q(1, 0), { aggregate: "mean", similarity: "cosine" })[0]!;
    expect(dot.expert).toBe("A");
    expect(dot.scores).toEqual({ A: 3, B: 0.5 });
    expect(cos.expert).toBe("B");
    expect(cos.scores.A).toBeCloseTo(Math.SQRT1_2, 6);
    expect(cos.scores.B).toBeCloseTo(1, 6);
  });

  it("cosine with a zero query or pilot is 0, not NaN", () => {
    const L = lib([
      ["A", [0, 0]],
      ["B", [1, 0]],
    ]);
    const [d] = route(L, q(0, 0), { aggregate: "mean", similarity: "cosine" });
    expect(d!.scores).toEqual({ A: 0, B: 0 });
  });

  it("ties go to the expert listed first in the library", () => {
    const L = lib(
      [
        ["x", [1, 0]],
        [BASE, [1, 0]],
      ],
      [BASE, "x"],
    );
    expect(route(L, q(1, 0), PAPER_RULE)[0]!.expert).toBe(BASE);
    const L2 = { ...L, experts: ["x", BASE] };
    expect(route(L2, q(1, 0), PAPER_RULE)[0]!.expert).toBe("x");
  });

  it("routes every row, and scores list every candidate (-Infinity without pilots)", () => {
    const L = lib(
      [
        ["A", [1, 0]],
        ["B", [0, 1]],
      ],
      [BASE, "A", "B", "C"],
    );
    const ds = route(L, q(1, 0, 0, 1, 0.2, 0.1), PAPER_RULE);
    expect(ds.map((d) => d.expert)).toEqual(["A", "B", "A"]);
    expect(Object.keys(ds[0]!.scores)).toEqual([BASE, "A", "B", "C"]);
    expect(ds[0]!.scores[BASE]).toBe(-Infinity);
    expect(ds[0]!.scores.C).toBe(-Infinity);
  });

  it("`allowed` restricts the candidates; with no allowed pilot it falls back to base, or refuses", () => {
    const L = lib(
      [
        ["A", [1, 0]],
        ["B", [0, 1]],
      ],
      [BASE, "A", "B"],
    );
    const d = route(L, q(1, 0), PAPER_RULE, new Set([BASE, "B"]))[0]!;
    expect(d.expert).toBe("B");
    expect(Object.keys(d.scores)).toEqual([BASE, "B"]);
    expect(route(L, q(1, 0), PAPER_RULE, new Set([BASE]))[0]!.expert).toBe(BASE);
    expect(() => route(L, q(1, 0), PAPER_RULE, new Set(["C"]))).toThrow(RouterRetrieverError);
  });

  it("refuses a buffer that is not whole vectors, and a wrong n through the QueryRouter", () => {
    const L = lib([["A", [1, 0]]]);
    expect(() => route(L, q(1, 0, 1), PAPER_RULE)).toThrow(/whole number/);
    const r = pilotRouter(L);
    expect(r.route(q(1, 0, 0, 1), 2)).toHaveLength(2);
    expect(() => r.route(q(1, 0, 0, 1), 3)).toThrow(/expected 3 x 2/);
  });

  it("soft routing: softmax of the scores over the top m, with a base margin and an out-of-domain floor", () => {
    const L = lib([
      [BASE, [0.6, 0.8]],
      ["A", [1, 0]],
      ["B", [0, 1]],
    ]);
    const rule = { aggregate: "mean", similarity: "cosine" } as const;
    const x = q(0.8, 0.6); // cosines: base 0.96, A 0.8, B 0.6
    const soft = route(L, x, { ...rule, temperature: 0.1 })[0]!;
    const e = [0.96, 0.8, 0.6].map((s) => Math.exp(s / 0.1));
    const z = e[0]! + e[1]! + e[2]!;
    expect(soft.expert).toBe(BASE);
    expect(soft.weights![BASE]).toBeCloseTo(e[0]! / z, 6);
    expect(soft.weights!.A).toBeCloseTo(e[1]! / z, 6);
    expect(soft.weights!.B).toBeCloseTo(e[2]! / z, 6);
    // top-2 drops B and renormalises over base and A.
    const top2 = route(L, x, { ...rule, temperature: 0.1, topM: 2 })[0]!;
    expect(Object.keys(top2.weights!).sort()).toEqual([BASE, "A"].sort());
    expect(top2.weights!.A).toBeCloseTo(e[1]! / (e[0]! + e[1]!), 6);
    // A negative base bias of 0.2 hands the hard decision to A (0.8 > 0.76); hard decisions carry no weights.
    const hard = route(L, x, { ...rule, baseBias: -0.2 })[0]!;
    expect(hard.expert).toBe("A");
    expect(hard.weights).toBeUndefined();
    expect(route(L, x, rule)[0]!.expert).toBe(BASE);
    // Out of domain: every cosine below the floor -> base alone, and the decision says why.
    const ood = route(L, q(-1, -0.1), { ...rule, temperature: 0.1, minScore: 0.2 })[0]!;
    expect(ood).toMatchObject({ expert: BASE, weights: { [BASE]: 1 }, stayedWithBase: "out-of-domain" });
    expect(route(L, x, { ...rule, temperature: 0.1, minScore: 0.2 })[0]!.stayedWithBase).toBeUndefined();
    expect(() => route(L, x, { ...rule, temperature: -1 })).toThrow(RouterRetrieverError);
    expect(() => route(L, x, { ...rule, topM: 0 })).toThrow(RouterRetrieverError);
  });
});

describe("knn rule", () => {
  // Labelled training queries: two near (1,0), one near (0,1); scores per candidate.
  const instances = (scores: Record<string, number[]>, vectors: number[][]): PilotInstances => ({
    count: vectors.length,
    vectors: Float32Array.from(vectors.flatMap((v) => { const n = Math.hypot(...v); return v.map((x) => x / n); })),
    domains: vectors.map(() => "d"),
    scores: new Map(Object.entries(scores).map(([c, s]) => [c, Float32Array.from(s)])),
  });
  const knnLib = (inst: PilotInstances, experts: string[]): PilotLibrary => ({ baseModelId: "test/model", dims: inst.vectors.length / inst.count, experts, domains: [...inst.domains], pilots: [], instances: inst });

  it("scores each candidate by its mean nDCG over the query's k nearest labelled queries", () => {
    const inst = instances({ base: [0.5, 0.5, 0.9], A: [0.9, 0.7, 0.1] }, [[1, 0], [0.9, 0.1], [0, 1]]);
    const L = knnLib(inst, [BASE, "A"]);
    const d = route(L, q(1, 0.05), { aggregate: "knn", similarity: "cosine", neighbours: 2 })[0]!;
    expect(d.expert).toBe("A");
    expect(d.scores.A).toBeCloseTo(0.8, 6);
    expect(d.scores[BASE]).toBeCloseTo(0.5, 6);
    // Near (0,1) the base wins.
    expect(route(L, q(0.05, 1), { aggregate: "knn", similarity: "cosine", neighbours: 1 })[0]!.expert).toBe(BASE);
    // A margin for the base in nDCG units flips a close call.
    expect(route(L, q(1, 0.05), { aggregate: "knn", similarity: "cosine", neighbours: 2, baseBias: 0.31 })[0]!.expert).toBe(BASE);
  });

  it("domainShare blends the neighbours' own gain with their domains' mean gain", () => {
    // Domain "s": A gains +0.4 on two queries and ties on two (mean gain +0.2); domain "o": A loses 0.1.
    const vectors = [[1, 0], [0.99, 0.1], [0.98, 0.2], [0.97, 0.24], [0, 1], [0.1, 0.99]];
    const inst: PilotInstances = {
      ...instances({ base: [0.5, 0.5, 0.8, 0.8, 0.6, 0.6], A: [0.9, 0.9, 0.8, 0.8, 0.5, 0.5] }, vectors),
      domains: ["s", "s", "s", "s", "o", "o"],
    };
    const L = knnLib(inst, [BASE, "A"]);
    const rule = { aggregate: "knn", similarity: "cosine", neighbours: 2 } as const;
    // The two nearest neighbours of (0.97, 0.25) are the two ties: no local gain.
    const x = q(0.97, 0.25);
    const local = route(L, x, { ...rule, baseBias: 0.1 })[0]!;
    expect(local.scores.A! - local.scores[BASE]!).toBeCloseTo(0, 6);
    expect(local.expert).toBe(BASE);
    // The domain's mean gain (+0.2) is read in full at share 1, half of it at share 0.5.
    const whole = route(L, x, { ...rule, domainShare: 1 })[0]!;
    expect(whole.scores.A! - whole.scores[BASE]!).toBeCloseTo(0.2, 6);
    expect(route(L, x, { ...rule, domainShare: 1, baseBias: 0.1 })[0]!.expert).toBe("A");
    const half = route(L, x, { ...rule, domainShare: 0.5 })[0]!;
    expect(half.scores.A! - half.scores[BASE]!).toBeCloseTo(0.1, 6);
    // In the other domain the domain estimate agrees with the neighbours: A loses.
    expect(route(L, q(0.05, 1), { ...rule, domainShare: 1 })[0]!.expert).toBe(BASE);
    expect(() => route(L, x, { ...rule, domainShare: 1.5 })).toThrow(RouterRetrieverError);
  });

  it("domainModel linear reads the query's domain from a linear model where its neighbours share the topic, not the domain", () => {
    // Domain "o" covers a quarter circle of topics, "s" only its first half; axis 2 (+-0.1) is
    // the domains' own signature. A gains +0.4 on "s" and loses 0.1 on "o".
    const unit = (v: number[]): number[] => v.map((x) => x / Math.hypot(...v));
    const vectors: number[][] = [];
    const domains: string[] = [];
    for (let t = 0; t <= 8; t++) {
      const th = (t / 8) * (Math.PI / 2);
      vectors.push(unit([Math.cos(th), Math.sin(th), -0.1, 0]));
      domains.push("o");
      if (t <= 4) {
        vectors.push(unit([Math.cos(th), Math.sin(th), 0.1, 0]));
        domains.push("s");
      }
    }
    const inst: PilotInstances = {
      ...instances({ base: domains.map(() => 0.5), A: domains.map((d) => (d === "s" ? 0.9 : 0.4)) }, vectors),
      domains,
    };
    const L = knnLib(inst, [BASE, "A"]);
    const rule = { aggregate: "knn", similarity: "cosine", neighbours: 3, domainShare: 1, baseBias: 0.05 } as const;
    // An "s" query (signature +0.1) on a topic only "o" covers: its three nearest are all "o".
    const th = (3 * Math.PI) / 8;
    const near = q(...unit([Math.cos(th), Math.sin(th), 0.1, 0]));
    expect([...nearestInstances(inst, near, 4, 3).index].map((j) => domains[j])).toEqual(["o", "o", "o"]);
    expect(route(L, near, rule)[0]!.expert).toBe(BASE);
    const linear = route(L, near, { ...rule, domainModel: "linear" })[0]!;
    expect(linear.expert).toBe("A");
    expect(linear.scores.A! - linear.scores[BASE]!).toBeGreaterThan(0.1);
    // The same query far from every labelled query (mean cosine ~0.4): below the familiarity
    // floor the linear model is not trusted and the neighbours' domains decide.
    const far = q(...unit([Math.cos(th), Math.sin(th), 0.1, 2]));
    expect(route(L, far, { ...rule, domainModel: "linear" })[0]!.expert).toBe("A");
    expect(route(L, far, { ...rule, domainModel: "linear", familiarity: 0.6 })[0]!.expert).toBe(BASE);
    expect(route(L, near, { ...rule, domainModel: "linear", familiarity: 0.6 })[0]!.expert).toBe("A");
    expect(() => route(L, near, { ...rule, domainModel: "lda" as "linear" })).toThrow(RouterRetrieverError);

    // familiarBaseBias: the margin for a query the linear model is trusted with; an unfamiliar one keeps baseBias.
    const margins = { ...rule, domainModel: "linear", familiarity: 0.6, baseBias: 0.5, familiarBaseBias: 0.05 } as const;
    const familiar = route(L, near, margins)[0]!;
    expect(familiar.expert).toBe("A");
    expect(familiar.margin).toBe(0.05);
    expect(route(L, near, { ...margins, familiarBaseBias: undefined })[0]!.expert).toBe(BASE);
    const stranger = route(L, far, { ...margins, familiarBaseBias: -1 })[0]!;
    expect(stranger.expert).toBe(BASE);
    expect(stranger.margin).toBeUndefined();
    expect(() => route(L, near, { ...margins, familiarBaseBias: Number.NaN })).toThrow(RouterRetrieverError);
  });

  it("judges a candidate only on the queries it was scored on (NaN = not scored)", () => {
    // B was added later and scored only on the query near (0,1).
    const inst = instances({ base: [0.5, 0.5, 0.2], A: [0.6, 0.6, 0.1], B: [NaN, NaN, 0.9] }, [[1, 0], [0.9, 0.1], [0, 1]]);
    const L = knnLib(inst, [BASE, "A", "B"]);
    const near = route(L, q(1, 0), { aggregate: "knn", similarity: "cosine", neighbours: 2 })[0]!;
    expect(near.expert).toBe("A");
    expect(near.scores.B).toBe(-Infinity);
    expect(route(L, q(0, 1), { aggregate: "knn", similarity: "cosine", neighbours: 1 })[0]!.expert).toBe("B");
  });

  it("does not judge a candidate scored on under half of the neighbours, and judges a partly scored one by its gain over the base", () => {
    // C was scored only on the third (easy) query: 0.95 where the base got 0.9.
    const inst = instances({ base: [0.5, 0.5, 0.9], A: [0.6, 0.6, 0.8], C: [NaN, NaN, 0.95] }, [[1, 0], [0.9, 0.1], [0.8, 0.2]]);
    const L = knnLib(inst, [BASE, "A", "C"]);
    const all3 = route(L, q(1, 0), { aggregate: "knn", similarity: "cosine", neighbours: 3 })[0]!;
    expect(all3.scores.C).toBe(-Infinity); // 1 of 3
    expect(all3.expert).toBe("A");
    // Scored on 1 of 2 neighbours, so judged: the query is decided again on the rows C scored,
    // where both are measured: C's gain over the base there (0.05) is the margin.
    const two = knnLib(instances({ base: [0.5, 0.9], C: [NaN, 0.95] }, [[1, 0], [0.9, 0.1]]), [BASE, "C"]);
    const d = route(two, q(1, 0), { aggregate: "knn", similarity: "cosine", neighbours: 2 })[0]!;
    expect(d.expert).toBe("C");
    expect(d.scores[BASE]).toBeCloseTo(0.9, 6);
    expect(d.scores.C).toBeCloseTo(0.95, 6);
  });

  it("adding a domain's evidence does not move the routes of queries it does not claim", () => {
    let s = 11;
    const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    // The original library: 60 labelled queries around (1,0,0), each scored by base, A and B.
    const old = Array.from({ length: 60 }, () => [1 + 0.3 * rnd(), 0.3 * rnd(), 0.3 * rnd()]);
    const oldScores = { base: old.map(() => 0.5 + 0.2 * rnd()), A: old.map(() => 0.5 + 0.3 * rnd()), B: old.map(() => 0.5 + 0.3 * rnd()) };
    // A new domain's evidence around (0.6,0.8,0): scored by the base and the new expert N only.
    const added = Array.from({ length: 40 }, () => [0.6 + 0.2 * rnd(), 0.8 + 0.2 * rnd(), 0.2 * rnd()]);
    const grown = instances(
      {
        base: [...oldScores.base, ...added.map(() => 0.4)],
        A: [...oldScores.A, ...added.map(() => NaN)],
        B: [...oldScores.B, ...added.map(() => NaN)],
        N: [...old.map(() => NaN), ...added.map(() => 0.7)],
      },
      [...old, ...added],
    );
    const before = knnLib(instances(oldScores, old), [BASE, "A", "B"]);
    const after = knnLib(grown, [BASE, "A", "B", "N"]);
    const rule = { aggregate: "knn", similarity: "cosine", neighbours: 16, temperature: 0.05, topM: 2, baseBias: 0.02 } as const;
    const queries = Array.from({ length: 200 }, () => [1 + 0.6 * rnd(), 0.9 * rnd() + 0.3, 0.3 * rnd()]);
    const r0 = route(before, Float32Array.from(queries.flat()), rule);
    const r1 = route(after, Float32Array.from(queries.flat()), rule);
    let claimed = 0;
    let displaced = 0;
    r1.forEach((d, i) => {
      if (Number.isFinite(d.scores.N!)) {
        claimed++;
        expect(d.expert).toBe("N"); // its evidence shows +0.3 over the base
        return;
      }
      // Unclaimed: the same decision, scores and weights as in the library without N's rows.
      expect({ ...d, scores: { ...d.scores, N: undefined } }).toEqual({ ...r0[i]!, scores: { ...r0[i]!.scores, N: undefined } });
      if (nearestInstances(grown, Float32Array.from(queries[i]!), 3, 16).index.some((j) => j >= 60)) displaced++;
    });
    // The case is not trivial: some queries are claimed, and some unclaimed ones had N's rows among their neighbours.
    expect(claimed).toBeGreaterThan(0);
    expect(displaced).toBeGreaterThan(0);
  });

  it("expertShare gives the base the rest of every routed mix, hard and soft", () => {
    const inst = instances({ base: [0.5, 0.5], A: [0.9, 0.1] }, [[1, 0], [0, 1]]);
    const L = knnLib(inst, [BASE, "A"]);
    const rule = { aggregate: "knn", similarity: "cosine", neighbours: 1, expertShare: 0.9 } as const;
    const toA = route(L, q(1, 0), rule)[0]!;
    expect(toA.expert).toBe("A");
    expect(toA.weights!.A).toBeCloseTo(0.9, 12);
    expect(toA.weights![BASE]).toBeCloseTo(0.1, 12);
    // A query routed to the base stays wholly with it.
    const toBase = route(L, q(0, 1), rule)[0]!;
    expect(toBase.expert).toBe(BASE);
    expect(toBase.weights).toBeUndefined();
    // Soft: the softmax's weights scaled by the share, the base's own weight kept.
    const soft = route(L, q(1, 0), { ...rule, temperature: 0.4 })[0]!;
    const plain = route(L, q(1, 0), { ...rule, temperature: 0.4, expertShare: undefined })[0]!;
    expect(soft.weights!.A).toBeCloseTo(0.9 * plain.weights!.A!, 12);
    expect(soft.weights![BASE]).toBeCloseTo(0.9 * plain.weights![BASE]! + 0.1, 12);
    // Below one half the base leads the mix, and the decision says so.
    expect(route(L, q(1, 0), { ...rule, expertShare: 0.4 })[0]!.expert).toBe(BASE);
    expect(() => route(L, q(1, 0), { ...rule, expertShare: 0 })).toThrow(RouterRetrieverError);
    expect(() => route(L, q(1, 0), { ...rule, expertShare: 1.5 })).toThrow(RouterRetrieverError);
  });

  it("stays with the base when the neighbours are far (minScore on their mean cosine)", () => {
    const inst = instances({ base: [0.1], A: [0.9] }, [[1, 0]]);
    const L = knnLib(inst, [BASE, "A"]);
    const d = route(L, q(0.2, 1), { aggregate: "knn", similarity: "cosine", neighbours: 1, minScore: 0.5 })[0]!;
    expect(d.expert).toBe(BASE);
    expect(d.stayedWithBase).toBe("out-of-domain");
  });

  it("nearestInstances agrees with a full sort", () => {
    let s = 7;
    const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const vecs = Array.from({ length: 200 }, () => [rnd(), rnd(), rnd()]);
    const inst: PilotInstances = instances({ base: vecs.map(() => 0) }, vecs);
    const queries = Float32Array.from(Array.from({ length: 15 }, () => [rnd(), rnd(), rnd()]).flat());
    const nb = nearestInstances(inst, queries, 3, 10);
    for (let qi = 0; qi < 15; qi++) {
      const qv = [...queries.subarray(qi * 3, qi * 3 + 3)];
      const qn = Math.hypot(...qv);
      const sims = Array.from({ length: 200 }, (_, j) => (qv[0]! * inst.vectors[j * 3]! + qv[1]! * inst.vectors[j * 3 + 1]! + qv[2]! * inst.vectors[j * 3 + 2]!) / qn);
      const want = sims.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0]).slice(0, 10).map((x) => x[1]);
      expect([...nb.index.subarray(qi * 10, qi * 10 + 10)]).toEqual(want);
      // Among the rows a mask admits (runs of masked rows, as a revote's): the same sort restricted to them.
      const admitted = (j: number): boolean => Math.floor(j / 10) % 3 !== 1;
      const masked = nearestInstances(inst, queries.subarray(qi * 3, qi * 3 + 3), 3, 10, Uint8Array.from({ length: 200 }, (_, j) => (admitted(j) ? 1 : 0)));
      const wantMasked = sims.map((v, j) => [v, j] as const).filter(([, j]) => admitted(j)).sort((a, b) => b[0] - a[0]).slice(0, 10).map((x) => x[1]);
      expect([...masked.index]).toEqual(wantMasked);
    }
  });

  it("refuses a library without labelled queries", () => {
    const L = lib([["A", [1, 0]]]);
    expect(() => route(L, q(1, 0), { aggregate: "knn", similarity: "cosine" })).toThrow(/labelled queries/);
  });
});
