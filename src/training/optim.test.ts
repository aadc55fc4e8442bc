import { describe, expect, it } from "vitest";
import { linearWarmupDecay } from "./optim.js";

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
