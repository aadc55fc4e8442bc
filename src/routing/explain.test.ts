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
