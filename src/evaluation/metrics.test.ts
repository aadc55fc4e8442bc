import { describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import type { Qrels } from "../data/beir.js";
import { compareTrecEval, evaluateQuery, evaluateRun, metricNames, rankTrecEval, type Run } from "./metrics.js";

// Every expected value below comes either from a published trec_eval / pytrec_eval output (source
// named beside it) or from arithmetic written out in the comment; none from this module.

const qrels = (o: Record<string, Record<string, number>>): Qrels =>
  new Map(Object.entries(o).map(([q, docs]) => [q, new Map(Object.entries(docs))]));
const run = (o: Record<string, Record<string, number>>): Run =>
  new Map(Object.entries(o).map(([q, docs]) => [q, new Map(Object.entries(docs))]));

describe("published pytrec_eval / trec_eval outputs", () => {
  // cvangysel/pytrec_eval tests/pytrec_eval_tests.py, test_ndcg and test_ndcg_cut.
  const pyQrels = qrels({ q1: { d1: 0, d2: 1, d3: 0 }, q2: { d2: 1, d3: 1 } });

  it("pytrec_eval test_ndcg_cut: relevant doc at rank 3", () => {
    const r = evaluateRun(pyQrels, run({ q1: { d1: 1.0, d2: 0.0, d3: 1.5 }, q2: {} }), {
      ks: [1, 2, 3, 1000],
      ignoreIdenticalIds: false,
    });
    const q1 = r.perQuery.get("q1")!;
    expect(q1["ndcg@3"]).toBeCloseTo(0.5, 12);
    expect(q1["ndcg@2"]).toBe(0);
    expect(q1["ndcg@1"]).toBe(0);
    expect(q1["ndcg@1000"]).toBeCloseTo(0.5, 12);
  });

  it("pytrec_eval test_ndcg: relevant doc at rank 1 and at rank 2", () => {
    const atRank1 = evaluateRun(pyQrels, run({ q1: { d1: 1.0, d2: 2.0, d3: 1.5 }, q2: {} }), {
      ks: [1, 1000],
      ignoreIdenticalIds: false,
    });
    expect(atRank1.perQuery.get("q1")!["ndcg@1"]).toBe(1);
    expect(atRank1.perQuery.get("q1")!["ndcg@1000"]).toBe(1);
    const atRank2 = evaluateRun(pyQrels, run({ q1: { d1: 4.0, d2: 2.0, d3: 1.5 }, q2: {} }), {
      ks: [1000],
      ignoreIdenticalIds: false,
    });
    expect(atRank2.perQuery.get("q1")!["ndcg@1000"]).toBeCloseTo(0.6309297535714575, 12);
    // pytrec_eval scores q2 (present in the run, empty) as 0; so do we.
    expect(atRank2.perQuery.get("q2")!["ndcg@1000"]).toBe(0);
  });

  it("trec_eval issue #22: ties broken by docno descending", () => {
    // usnistgov/trec_eval#22: qrels a=0 b=1 c=0. run1 = {b, a} both 1.0 -> ndcg 1.0000;
    // run2 = {b, c} both 1.0 -> ndcg 0.6309 (c sorts before b).
    const q = qrels({ "1": { a: 0, b: 1, c: 0 } });
    const opts = { ks: [1000], ignoreIdenticalIds: false };
    expect(evaluateRun(q, run({ "1": { b: 1.0, a: 1.0 } }), opts).mean["ndcg@1000"]).toBe(1);
    expect(evaluateRun(q, run({ "1": { b: 1.0, c: 1.0 } }), opts).mean["ndcg@1000"]).toBeCloseTo(0.6309, 4);
  });

  it("pytrec_eval issue #56: all-tied run, map and ndcg", () => {
    // cvangysel/pytrec_eval#56: q1 {d3:1}, run {d1,d2,d3 all 1} -> map 1.0, ndcg 1.0;
    // q2 {d2:1,d3:1}, run {d3,d2 both 1} -> map 1.0, ndcg 1.0. The maintainer's reply: with
    // run {d5,d4,d3 all 1} q1 gets map 1/3 and ndcg 0.5.
    const q = qrels({ q1: { d3: 1 }, q2: { d2: 1, d3: 1 } });
    const opts = { ks: [1000], ignoreIdenticalIds: false };
    const r = evaluateRun(q, run({ q1: { d1: 1, d2: 1, d3: 1 }, q2: { d3: 1, d2: 1 } }), opts);
    for (const qid of ["q1", "q2"]) {
      expect(r.perQuery.get(qid)!["map@1000"]).toBe(1);
      expect(r.perQuery.get(qid)!["ndcg@1000"]).toBe(1);
    }
    const r2 = evaluateRun(qrels({ q1: { d3: 1 } }), run({ q1: { d5: 1, d4: 1, d3: 1 } }), opts);
    expect(r2.mean["map@1000"]).toBeCloseTo(1 / 3, 12);
    expect(r2.mean["ndcg@1000"]).toBeCloseTo(0.5, 12);
  });

  it("ir_measures issue #18: ids '0' (not relevant) and '1' (relevant) tied -> P_1 = 1", () => {
    // terrierteam/ir_measures#18: `trec_eval qrels run -m P.1` prints P_1 all 1.0000.
    const r = evaluateRun(qrels({ "0": { "0": 0, "1": 1 } }), run({ "0": { "0": 0, "1": 0 } }), {
      ks: [1],
      ignoreIdenticalIds: false,
    });
    expect(r.mean["precision@1"]).toBe(1);
  });

  // terrierteam/ir_measures test/test_pytrec_eval.py (PytrecEvalProvider expectations).
  const irmQrels = qrels({
    "0": { D0: 1, D1: -1, D2: 0, D3: 2, D4: 0 },
    "1": { D0: 1, D3: 2, D4: -1, D5: 0 },
  });
  const irmRun = run({
    "0": { D0: 0.8, D2: 0.7, D1: 0.3, D3: 0.4, D4: 0.1 },
    "1": { D1: 0.8, D4: 0.7, D3: 0.3, D2: 0.4 },
  });

  it("ir_measures test_infAP: AP with graded and -1 judgments", () => {
    // AP: query 0 -> 0.8333, query 1 -> 0.125, mean 0.47916666666666663 (with 5 and 4 docs
    // retrieved, map_cut@1000 equals map).
    const r = evaluateRun(irmQrels, irmRun, { ks: [1000], ignoreIdenticalIds: false });
    expect(r.perQuery.get("0")!["map@1000"]).toBeCloseTo(0.8333, 4);
    expect(r.perQuery.get("1")!["map@1000"]).toBe(0.125);
    expect(r.mean["map@1000"]).toBeCloseTo(0.47916666666666663, 12);
  });

  it("ir_measures test_SetR / test_SetP: recall and precision over the whole run", () => {
    // Same qrels but query 0 has D1=1, D2=2 and query 1 has no -1 (test_SetR/test_SetP data);
    // SetR: 1.0 and 0.5; SetP: 0.6 (3 of 5) and 0.25 (1 of 4), i.e. P@5 and P@4 respectively.
    const q = qrels({ "0": { D0: 0, D1: 1, D2: 2, D3: 2, D4: 0 }, "1": { D0: 1, D3: 2, D5: 0 } });
    const r0 = run({
      "0": { D0: 0.8, D2: 0.7, D1: 0.3, D3: 0.4, D4: 0.1 },
      "1": { D1: 0.8, D4: 0.7, D3: 0.3, D2: 0.4 },
    });
    const r = evaluateRun(q, r0, { ks: [4, 5, 1000], ignoreIdenticalIds: false });
    expect(r.perQuery.get("0")!["recall@1000"]).toBe(1);
    expect(r.perQuery.get("1")!["recall@1000"]).toBe(0.5);
    expect(r.mean["recall@1000"]).toBe(0.75);
    expect(r.perQuery.get("0")!["precision@5"]).toBeCloseTo(0.6, 12);
    expect(r.perQuery.get("1")!["precision@4"]).toBe(0.25);
  });
});

describe("hand-worked graded example", () => {
  // Judgments: A=3, B=2, C=0, D=1, E=2 (E never retrieved). X is unjudged.
  // Scores A .9, C .8, B .7, X .6, D .5 -> ranking A(3) C(0) B(2) X(-) D(1).
  // Relevant (grade >= 1): A, B, D, E -> 4.
  const q = qrels({ q: { A: 3, B: 2, C: 0, D: 1, E: 2 } });
  const r = run({ q: { A: 0.9, C: 0.8, B: 0.7, X: 0.6, D: 0.5 } });
  const v = evaluateRun(q, r, { ks: [1, 3, 5], ignoreIdenticalIds: false }).perQuery.get("q")!;

  it("nDCG uses the grade as gain and the ideal from all judged docs", () => {
    // @1: DCG 3/log2(2)=3; IDCG 3 -> 1.
    expect(v["ndcg@1"]).toBe(1);
    // @3: DCG 3 + 0 + 2/log2(4)=4; IDCG (3,2,2) 3 + 2/log2(3) + 2/2 = 5.261859507142915
    //     -> 4 / 5.261859507142915 = 0.7601875334318685.
    expect(v["ndcg@3"]).toBeCloseTo(0.7601875334318685, 12);
    // @5: DCG 4 + 1/log2(6) = 4 + 0.38685280723454163 = 4.386852807234542;
    //     IDCG (3,2,2,1) 5.261859507142915 + 1/log2(5) = 5.261859507142915 + 0.43067655807339306
    //     = 5.692536065216308 -> 0.7706324135634347.
    expect(v["ndcg@5"]).toBeCloseTo(0.7706324135634347, 12);
  });

  it("recall, MAP (over all 4 relevant), precision and MRR", () => {
    // Relevant hits at ranks 1, 3, 5.
    expect(v["recall@1"]).toBe(0.25); // 1/4
    expect(v["recall@3"]).toBe(0.5); // 2/4
    expect(v["recall@5"]).toBe(0.75); // 3/4
    expect(v["map@3"]).toBeCloseTo((1 / 1 + 2 / 3) / 4, 12); // 0.41666...
    expect(v["map@5"]).toBeCloseTo((1 / 1 + 2 / 3 + 3 / 5) / 4, 12); // 0.56666...
    expect(v["precision@3"]).toBeCloseTo(2 / 3, 12);
    expect(v["precision@5"]).toBeCloseTo(3 / 5, 12);
    expect(v["mrr@1"]).toBe(1);
  });

  it("MRR is recip_rank cut at k", () => {
    // First relevant doc at rank 3: mrr@1 = 0, mrr@3 = 1/3, mrr@10 = 1/3.
    const w = evaluateQuery(new Map([["R", 1]]), rankTrecEval(new Map([["a", 3], ["b", 2], ["R", 1]]), "q"), [1, 3, 10]);
    expect(w["mrr@1"]).toBe(0);
    expect(w["mrr@3"]).toBeCloseTo(1 / 3, 12);
    expect(w["mrr@10"]).toBeCloseTo(1 / 3, 12);
  });

  it("a score-0 judgment is not relevant and adds no gain", () => {
    // Only C (grade 0) retrieved at rank 1: every metric is 0.
    const w = evaluateQuery(new Map([["C", 0], ["A", 1]]), [{ id: "C", score: 1 }], [1, 10]);
    for (const name of metricNames([1, 10])) expect(w[name]).toBe(0);
  });

  it("cutoffs beyond the run length keep the last values (nonrelevant fill)", () => {
    // One relevant of two retrieved at rank 1: recall@1000 = 1/2, P@1000 = 1/1000.
    const w = evaluateQuery(new Map([["a", 1], ["b", 1]]), [{ id: "a", score: 1 }], [1000]);
    expect(w["recall@1000"]).toBe(0.5);
    expect(w["precision@1000"]).toBe(0.001);
    // IDCG over both relevant: 1 + 1/log2(3) = 1.6309297535714575; DCG 1.
    expect(w["ndcg@1000"]).toBeCloseTo(1 / 1.6309297535714575, 12);
  });
});

describe("ordering", () => {
  it("sorts by score descending, then id descending", () => {
    const ranked = rankTrecEval(new Map([["a", 1], ["c", 1], ["b", 2], ["d", 0]]), "q");
    expect(ranked.map((d) => d.id)).toEqual(["b", "c", "a", "d"]);
  });

  it("ties compare ids by code point (strcmp on UTF-8), not by UTF-16 unit", () => {
    // U+E000 is EE 80 80 in UTF-8 and U+10000 is F0 90 80 80, so strcmp puts U+10000 higher and
    // descending order lists it first; JS '<' on UTF-16 (D800 vs E000) would say the opposite.
    const hi = "\u{10000}";
    const lo = "\ue000";
    expect(compareTrecEval({ id: hi, score: 1 }, { id: lo, score: 1 })).toBeLessThan(0);
    expect(rankTrecEval([{ id: lo, score: 1 }, { id: hi, score: 1 }], "q").map((d) => d.id)).toEqual([hi, lo]);
  });

  it("ignores the order of a ranked list: only scores and ids count", () => {
    const list = [
      { id: "x", score: 0.1 },
      { id: "y", score: 0.9 },
    ];
    expect(rankTrecEval(list, "q").map((d) => d.id)).toEqual(["y", "x"]);
    const q = qrels({ q: { x: 1 } });
    const fromList = evaluateRun(q, new Map([["q", list]]), { ignoreIdenticalIds: false });
    const fromMap = evaluateRun(q, run({ q: { x: 0.1, y: 0.9 } }), { ignoreIdenticalIds: false });
    expect(fromList.mean).toEqual(fromMap.mean);
  });

  it("rejects duplicate ids in a list and NaN scores", () => {
    expect(() =>
      rankTrecEval(
        [
          { id: "a", score: 1 },
          { id: "a", score: 2 },
        ],
        "q",
      ),
    ).toThrow(/query q lists doc a twice/);
    expect(() => rankTrecEval(new Map([["a", Number.NaN]]), "q")).toThrow(/doc a: score is NaN/);
  });
});

describe("which queries are evaluated", () => {
  it("ignore_identical_ids drops the doc whose id is the query id before ranking", () => {
    // q1's own id ranks first; without it, the relevant d1 is at rank 1 instead of rank 2.
    const q = qrels({ q1: { d1: 1 } });
    const r = run({ q1: { q1: 0.99, d1: 0.5 } });
    expect(evaluateRun(q, r, { ks: [1], ignoreIdenticalIds: true }).mean["ndcg@1"]).toBe(1);
    expect(evaluateRun(q, r, { ks: [1], ignoreIdenticalIds: false }).mean["ndcg@1"]).toBe(0);
    // BEIR pops only from the run: a judged doc sharing the query id is still in the ideal.
    const q2 = qrels({ q1: { q1: 1, d1: 1 } });
    const v = evaluateRun(q2, r, { ks: [2], ignoreIdenticalIds: true }).mean;
    expect(v["recall@2"]).toBe(0.5);
  });

  it("skips queries without relevant judgments and reports them", () => {
    const q = qrels({ a: { d1: 1 }, zeros: { d1: 0, d2: 0 }, empty: {} });
    const r = evaluateRun(q, run({ a: { d1: 1 }, zeros: { d1: 1 } }), { ks: [10], ignoreIdenticalIds: false });
    expect([...r.perQuery.keys()]).toEqual(["a"]);
    expect(r.withoutRelevant).toEqual(["zeros", "empty"]);
    expect(r.mean["ndcg@10"]).toBe(1);
  });

  it("judged queries missing from the run count 0 by default, or are left out with 'skip'", () => {
    const q = qrels({ a: { d1: 1 }, b: { d2: 1 } });
    const r = run({ a: { d1: 1 }, notJudged: { d9: 1 } });
    const zero = evaluateRun(q, r, { ks: [10], ignoreIdenticalIds: false });
    expect(zero.missingFromRun).toEqual(["b"]);
    expect(zero.perQuery.get("b")!["ndcg@10"]).toBe(0);
    expect(zero.mean["ndcg@10"]).toBe(0.5); // (1 + 0) / 2
    const skip = evaluateRun(q, r, { ks: [10], ignoreIdenticalIds: false, missingRunQueries: "skip" });
    expect(skip.perQuery.has("b")).toBe(false);
    expect(skip.mean["ndcg@10"]).toBe(1); // 1 / 1, as BEIR's sum / len(scores)
    // The run's unjudged query is ignored either way.
    expect(zero.perQuery.has("notJudged")).toBe(false);
  });

  it("returns every metric for every k, as fractions", () => {
    const r = evaluateRun(qrels({ a: { d1: 2 } }), run({ a: { d1: 1 } }), { ignoreIdenticalIds: false });
    expect(Object.keys(r.mean)).toEqual(metricNames());
    expect(Object.keys(r.mean)).toContain("ndcg@10");
    expect(Object.keys(r.mean)).toContain("recall@100");
    expect(Object.keys(r.mean)).toContain("mrr@10");
    expect(Object.keys(r.mean)).toContain("map@100");
    for (const value of Object.values(r.mean)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
  });

  it("rejects bad cutoffs and an evaluation with nothing to evaluate", () => {
    const q = qrels({ a: { d1: 1 } });
    expect(() => evaluateRun(q, run({}), { ks: [0], ignoreIdenticalIds: false })).toThrow(RouterRetrieverError);
    expect(() => evaluateRun(q, run({}), { ks: [2.5], ignoreIdenticalIds: false })).toThrow(/cutoff 2.5/);
    expect(() => evaluateRun(qrels({ a: { d1: 0 } }), run({}), { ignoreIdenticalIds: false })).toThrow(/no query to evaluate/);
  });
});
