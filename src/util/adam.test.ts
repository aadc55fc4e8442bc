import { describe, expect, it } from "vitest";
import { adamWStep, DEFAULT_ADAMW, initAdamW } from "./adam.js";

describe("AdamW", () => {
  it("takes torch.optim.AdamW's first two steps (worked by hand)", () => {
    // Step 1: m = 0.1 g, v = 0.001 g^2, m^ = g, v^ = g^2 -> p -= lr * g / (|g| + eps) ~ lr * sign(g);
    // decoupled decay first: p *= 1 - lr * wd.
    const cfg = { ...DEFAULT_ADAMW, lr: 0.1, weightDecay: 0.5 };
    const p = [Float32Array.from([1, -2])];
    const s = initAdamW(p);
    adamWStep(p, [Float32Array.from([0.5, -4])], s, cfg, cfg.lr);
    expect(p[0]![0]).toBeCloseTo(1 * 0.95 - 0.1, 6);
    expect(p[0]![1]).toBeCloseTo(-2 * 0.95 + 0.1, 6);
    // Step 2 with the same gradient: m^ = g, v^ = g^2 again, so the same move.
    adamWStep(p, [Float32Array.from([0.5, -4])], s, cfg, cfg.lr);
    expect(p[0]![0]).toBeCloseTo((1 * 0.95 - 0.1) * 0.95 - 0.1, 5);
    expect(s.step).toBe(2);
  });

  it("keeps Float64 parameters and moments in Float64 (the routing baselines' full-batch Adam)", () => {
    const p = [Float64Array.from([1 + 1e-12])];
    const s = initAdamW(p);
    expect(s.m[0]).toBeInstanceOf(Float64Array);
    adamWStep(p, [[1]], s, DEFAULT_ADAMW, 1e-3);
    expect(p[0]![0]).toBe(1 + 1e-12 - (1e-3 * 1) / (1 + 1e-8));
    expect(Math.fround(p[0]![0]!)).not.toBe(p[0]![0]);
  });
});
