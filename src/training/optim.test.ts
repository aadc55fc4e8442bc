import { describe, expect, it } from "vitest";
import { adamWStep, DEFAULT_ADAMW, initAdamW, linearWarmupDecay } from "./optim.js";

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
});

describe("linear warm-up then decay", () => {
  it("rises over the first 10% of steps and falls linearly to 0", () => {
    const lr = (s: number) => linearWarmupDecay(1, s, 100, 0.1);
    expect(lr(0)).toBe(0);
    expect(lr(5)).toBeCloseTo(0.5);
    expect(lr(10)).toBeCloseTo(1);
    expect(lr(55)).toBeCloseTo(0.5);
    expect(lr(100)).toBe(0);
  });
});
