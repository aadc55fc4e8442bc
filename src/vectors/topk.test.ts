import { describe, expect, it } from "vitest";
import { topK, type Hit } from "./topk.js";
import { rng } from "../util/random.js";

function randomMatrix(rows: number, dims: number, next: () => number, levels?: number): Float32Array {
  const m = new Float32Array(rows * dims);
  for (let i = 0; i < m.length; i++) {
    // With `levels`, values come from a tiny integer set so that many scores tie exactly.
    m[i] = levels === undefined ? next() * 2 - 1 : Math.floor(next() * levels) - 1;
  }
  return m;
}

function bruteForce(
  q: Float32Array,
  c: Float32Array,
  d: number,
  k: number,
  excluded?: (qi: number, j: number) => boolean,
): Hit[][] {
  const out: Hit[][] = [];
  for (let qi = 0; qi < q.length / d; qi++) {
    const all: Hit[] = [];
    for (let j = 0; j < c.length / d; j++) {
      if (excluded?.(qi, j)) continue;
      let s = 0;
      for (let t = 0; t < d; t++) s += q[qi * d + t] * c[j * d + t];
      all.push({ index: j, score: s });
    }
    all.sort((a, b) => b.score - a.score || a.index - b.index);
    out.push(all.slice(0, k));
  }
  return out;
}

describe("topK", () => {
  it("matches a brute-force sort on random data for many shapes", () => {
    const next = rng(1);
    for (const [n, nq, d] of [
      [1, 1, 1],
      [7, 5, 3],
      [50, 9, 16],
      [257, 6, 33],
      [1000, 11, 384],
    ]) {
      const c = randomMatrix(n, d, next);
      const q = randomMatrix(nq, d, next);
      for (const k of [0, 1, 5, n - 1, n, n + 3]) {
        if (k < 0) continue;
        expect(topK(q, c, d, k), `n=${n} nq=${nq} d=${d} k=${k}`).toEqual(bruteForce(q, c, d, k));
      }
    }
  });

  it("breaks ties by lower corpus index, deterministically", () => {
    const next = rng(2);
    const d = 3;
    const c = randomMatrix(400, d, next, 3);
    const q = randomMatrix(9, d, next, 3);
    for (const k of [1, 10, 50, 400]) {
      const got = topK(q, c, d, k);
      expect(got).toEqual(bruteForce(q, c, d, k));
      for (const hits of got) {
        for (let i = 1; i < hits.length; i++) {
          const [a, b] = [hits[i - 1], hits[i]];
          expect(a.score > b.score || (a.score === b.score && a.index < b.index)).toBe(true);
        }
      }
    }
    // All-identical rows: every score ties, so the answer is rows 0..k-1 in order.
    const same = new Float32Array(20 * d).fill(0.5);
    expect(topK(new Float32Array([1, 1, 1]), same, d, 4)[0].map((h) => h.index)).toEqual([0, 1, 2, 3]);
  });

  it("excludes a row per query and still returns k hits", () => {
    const next = rng(3);
    const d = 8;
    const n = 120;
    const nq = 13;
    const c = randomMatrix(n, d, next, 3);
    // Each query is a copy of a corpus row, so the excluded row would otherwise rank first.
    const own = Array.from({ length: nq }, (_, i) => (i * 7) % n);
    const q = new Float32Array(nq * d);
    own.forEach((row, i) => q.set(c.subarray(row * d, (row + 1) * d), i * d));
    for (const k of [1, 10, n - 1, n]) {
      const want = bruteForce(q, c, d, k, (qi, j) => j === own[qi]);
      expect(topK(q, c, d, k, { excludeIndex: own })).toEqual(want);
      expect(topK(q, c, d, k, { exclude: (qi, j) => j === own[qi] })).toEqual(want);
      for (const hits of want) expect(hits.length).toBe(Math.min(k, n - 1));
    }
    // A negative excludeIndex means "nothing to exclude".
    expect(topK(q, c, d, 5, { excludeIndex: new Array(nq).fill(-1) })).toEqual(bruteForce(q, c, d, 5));
  });

  it("ranks NaN scores last instead of corrupting the order", () => {
    const c = new Float32Array([1, NaN, 2, 0.5]);
    const hits = topK(new Float32Array([1]), c, 1, 4);
    expect(hits[0].map((h) => h.index)).toEqual([2, 0, 3, 1]);
    expect(hits[0][3].score).toBe(-Infinity);
  });

  it("rejects bad shapes and arguments", () => {
    const c = new Float32Array(12);
    expect(() => topK(new Float32Array(5), c, 4, 1)).toThrow(/query buffer length 5/);
    expect(() => topK(new Float32Array(4), new Float32Array(10), 4, 1)).toThrow(/corpus buffer length 10/);
    expect(() => topK(new Float32Array(4), c, 4, -1)).toThrow(/k must be/);
    expect(() => topK(new Float32Array(4), c, 0, 1)).toThrow(/dims must be/);
    expect(() => topK(new Float32Array(8), c, 4, 1, { excludeIndex: [0] })).toThrow(/excludeIndex has 1 entries for 2 queries/);
  });

  it("handles an empty corpus and no queries", () => {
    expect(topK(new Float32Array(8), new Float32Array(0), 4, 3)).toEqual([[], []]);
    expect(topK(new Float32Array(0), new Float32Array(8), 4, 3)).toEqual([]);
  });
});
