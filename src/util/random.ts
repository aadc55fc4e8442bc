/** Seeded randomness, so that training runs and test data are reproducible from a seed. */

/** mulberry32: a tiny 32-bit PRNG; uniform floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle into a new array. */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * n floats uniform in [lo, hi), as (2u - 1) * half + mid: for a symmetric range [-b, b) that is
 * exactly (2u - 1) * b, the form LoRA init (experts/init.ts) has always used, so seeded experts
 * keep their weights bit for bit.
 */
export function uniform(rand: () => number, n: number, lo = -1, hi = 1): number[] {
  const half = (hi - lo) / 2;
  const mid = (hi + lo) / 2;
  return Array.from({ length: n }, () => (2 * rand() - 1) * half + mid);
}
