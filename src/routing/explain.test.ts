import { describe, expect, it } from "vitest";
import { explainDecision } from "./explain.js";

describe("explainDecision", () => {
  const rule = { aggregate: "mean", similarity: "cosine" } as const;
  it("names the mix's shares, largest first, for soft decisions", () => {
    const t = explainDecision({ expert: "scifact", scores: { base: 0.5, scifact: 0.6 }, weights: { base: 0.3, scifact: 0.7 } }, rule);
    expect(t).toBe("A mix: scifact 70%, the base model 30% (by how close each one's pilots are).");
  });
  it("says why a query stayed with the base: out of domain, margin, or base closest", () => {
    expect(explainDecision({ expert: "base", scores: { base: 0.2, a: 0.3 }, weights: { base: 1 }, stayedWithBase: "out-of-domain" }, { ...rule, minScore: 0.4 })).toMatch(/No expert fits.*a, similarity 0.30.*below the 0.4/);
    expect(explainDecision({ expert: "base", scores: { base: 0.5, a: 0.51 } }, { ...rule, baseBias: 0.02 })).toMatch(/a's pilots are closest, but not by the margin/);
    expect(explainDecision({ expert: "base", scores: { base: 0.5, a: 0.4 } }, rule)).toMatch(/base model's pilots are closest/);
  });
  it("names the chosen expert and its similarity beside the base's; nothing without scores", () => {
    expect(explainDecision({ expert: "a", scores: { base: 0.4, a: 0.6 } }, rule)).toBe("Routed to a: its pilots are the closest (similarity 0.60 vs the base's 0.40).");
    expect(explainDecision({ expert: "base", scores: {} }, rule)).toBe("");
  });
});

describe("explainDecision, knn rule", () => {
  const knn = { aggregate: "knn", similarity: "cosine", neighbours: 16 } as const;
  it("speaks of how each candidate did on the most similar training queries", () => {
    expect(explainDecision({ expert: "a", scores: { base: 0.52, a: 0.71 } }, knn)).toBe("Routed to a: on the 16 most similar training queries it scored nDCG@10 0.71 against the base model's 0.52.");
    expect(explainDecision({ expert: "a", scores: { base: 0.5, a: 0.6 }, weights: { a: 0.8, base: 0.2 } }, knn)).toBe("A mix: a 80%, the base model 20%, by how well each did on the 16 most similar training queries (nDCG@10 0.60 vs 0.50).");
    expect(explainDecision({ expert: "base", scores: { base: 0.5, a: 0.51 } }, { ...knn, baseBias: 0.02 })).toMatch(/a did a little better \(nDCG@10 0.51 vs 0.50\), but not by the margin/);
    expect(explainDecision({ expert: "a", scores: { base: 0.5, a: 0.7 }, weights: { a: 0.9, base: 0.1 } }, { ...knn, expertShare: 0.9 })).toMatch(/^Routed to a \(90% of the mix, the rest the base model's.*nDCG@10 0.70 against the base model's 0.50/);
    // A familiar query's margin (familiarBaseBias) is the one the decision carries.
    expect(explainDecision({ expert: "base", scores: { base: 0.5, a: 0.51 }, margin: 0.03 }, { ...knn, baseBias: 0.1, familiarBaseBias: 0.03 })).toMatch(/not by the margin an expert must beat the base by \(0.03\)/);
    expect(explainDecision({ expert: "base", scores: { base: 0.5, a: 0.4 } }, knn)).toBe("On the 16 most similar training queries, no expert did better than the base model (nDCG@10 0.50).");
    expect(explainDecision({ expert: "base", scores: { base: 0.5, a: 0.4 }, stayedWithBase: "out-of-domain" }, { ...knn, minScore: 0.5 })).toMatch(/No expert fits.*mean similarity of 0.5/);
  });

  it("names where the domains came from: the neighbours' own, or the ones the query reads as", () => {
    const mix = { expert: "a", scores: { base: 0.5, a: 0.6 }, weights: { a: 0.8, base: 0.2 } };
    expect(explainDecision(mix, { ...knn, domainShare: 1 })).toMatch(/on the 16 most similar training queries and their domains \(/);
    expect(explainDecision(mix, { ...knn, domainShare: 1, domainModel: "linear" })).toMatch(/on the 16 most similar training queries and the domains this query reads as \(/);
  });
});
