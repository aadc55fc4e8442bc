import { RouterRetrieverError } from "../errors.js";

/** One retrieved row: its position in the corpus matrix and its dot-product score. */
export interface Hit {
  readonly index: number;
  readonly score: number;
}

export interface TopKOptions {
  /**
   * Per query, a corpus row that must not be returned (or a negative number for none). This is
   * the cheap form of BEIR's ignore_identical_ids: the row holding the query's own id.
   */
  excludeIndex?: ArrayLike<number>;
  /** General exclusion. Only consulted for candidates that would enter the top k. */
  exclude?: (queryIdx: number, docIdx: number) => boolean;
}

/**
 * Exact top-k by dot product, many queries at once.
 *
 * Exclusion is applied before a candidate enters the per-query heap, so every query gets k hits
 * that survive the exclusion (when the corpus has that many) without having to over-fetch k+1
 * and filter afterwards.
 *
 * Ordering is total and deterministic: score descending, then corpus row ascending. Each score is
 * accumulated in float64, sequentially over the dimensions, so it is bit-identical to the
 * obvious `s += q[t] * c[t]` loop (the product of two float32 values is exact in float64). A NaN
 * score is treated as -Infinity so that it cannot break the heap ordering.
 */
export function topK(
  queries: Float32Array,
  corpus: Float32Array,
  dims: number,
  k: number,
  options: TopKOptions = {},
): Hit[][] {
  if (!Number.isInteger(dims) || dims <= 0) {
    throw new RouterRetrieverError("BAD_INPUT", `topK: dims must be a positive integer, got ${dims}`);
  }
  if (!Number.isInteger(k) || k < 0) {
    throw new RouterRetrieverError("BAD_INPUT", `topK: k must be a non-negative integer, got ${k}`);
  }
  if (queries.length % dims !== 0) {
    throw new RouterRetrieverError(
      "SHAPE_MISMATCH",
      `topK: query buffer length ${queries.length} is not a multiple of dims ${dims}`,
    );
  }
  if (corpus.length % dims !== 0) {
    throw new RouterRetrieverError(
      "SHAPE_MISMATCH",
      `topK: corpus buffer length ${corpus.length} is not a multiple of dims ${dims}`,
    );
  }
  const nq = queries.length / dims;
  const n = corpus.length / dims;
  const { excludeIndex, exclude } = options;
  if (excludeIndex !== undefined && excludeIndex.length !== nq) {
    throw new RouterRetrieverError(
      "SHAPE_MISMATCH",
      `topK: excludeIndex has ${excludeIndex.length} entries for ${nq} queries`,
    );
  }

  const cap = Math.min(k, n);
  const heaps: BoundedHeap[] = [];
  for (let q = 0; q < nq; q++) heaps.push(new BoundedHeap(cap));
  if (cap === 0) return heaps.map(() => []);

  // `floor[q]` is the score a candidate must reach to be worth offering to query q's heap
  // (-Infinity until the heap is full). Keeping it in a flat array keeps the hot path to one
  // comparison; the heap does the exact (score, index) comparison for the few that pass.
  const floor = new Float64Array(nq).fill(-Infinity);
  const offer = (q: number, j: number, s: number): void => {
    if (s !== s) s = -Infinity;
    if (s < floor[q]) return;
    if (excludeIndex !== undefined && excludeIndex[q] === j) return;
    if (exclude !== undefined && exclude(q, j)) return;
    const h = heaps[q];
    h.offer(s, j);
    if (h.size === h.capacity) floor[q] = h.scores[0];
  };

  // Loop order: a block of corpus rows small enough to stay in L2 is scored against every query.
  // The kernel scores 4 query rows against 2 corpus rows at once: the innermost loop walks six
  // contiguous rows in step and each loaded value feeds two or four accumulators instead of one,
  // so fewer loads per multiply-add than scoring one query at a time. Corpus rows
  // are visited in ascending order for every query; the tie-break does not depend on it.
  const d = dims;
  const rowsPerBlock = Math.max(2, Math.floor((256 * 1024) / (d * 4)));
  for (let j0 = 0; j0 < n; j0 += rowsPerBlock) {
    const j1 = Math.min(n, j0 + rowsPerBlock);
    let q = 0;
    for (; q + 4 <= nq; q += 4) {
      const a = q * d;
      const b = a + d;
      const c = b + d;
      const e = c + d;
      let j = j0;
      for (; j + 2 <= j1; j += 2) {
        const o = j * d;
        const p = o + d;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let u0 = 0;
        let u1 = 0;
        let u2 = 0;
        let u3 = 0;
        for (let t = 0; t < d; t++) {
          const x = corpus[o + t];
          const y = corpus[p + t];
          const qa = queries[a + t];
          const qb = queries[b + t];
          const qc = queries[c + t];
          const qe = queries[e + t];
          s0 += qa * x;
          s1 += qb * x;
          s2 += qc * x;
          s3 += qe * x;
          u0 += qa * y;
          u1 += qb * y;
          u2 += qc * y;
          u3 += qe * y;
        }
        offer(q, j, s0);
        offer(q + 1, j, s1);
        offer(q + 2, j, s2);
        offer(q + 3, j, s3);
        offer(q, j + 1, u0);
        offer(q + 1, j + 1, u1);
        offer(q + 2, j + 1, u2);
        offer(q + 3, j + 1, u3);
      }
      if (j < j1) {
        const o = j * d;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let t = 0; t < d; t++) {
          const x = corpus[o + t];
          s0 += queries[a + t] * x;
          s1 += queries[b + t] * x;
          s2 += queries[c + t] * x;
          s3 += queries[e + t] * x;
        }
        offer(q, j, s0);
        offer(q + 1, j, s1);
        offer(q + 2, j, s2);
        offer(q + 3, j, s3);
      }
    }
    for (; q < nq; q++) {
      const a = q * d;
      for (let j = j0; j < j1; j++) {
        const o = j * d;
        let s = 0;
        for (let t = 0; t < d; t++) s += queries[a + t] * corpus[o + t];
        offer(q, j, s);
      }
    }
  }

  return heaps.map((h) => h.sorted());
}

/**
 * A fixed-capacity min-heap whose root is the worst kept hit ("worse" = lower score, or equal
 * score and higher row index), so the k best survive in O(n log k) and ties resolve by row.
 */
class BoundedHeap {
  readonly capacity: number;
  readonly scores: Float64Array;
  readonly indices: Int32Array;
  size = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.scores = new Float64Array(capacity);
    this.indices = new Int32Array(capacity);
  }

  offer(score: number, index: number): void {
    if (this.size < this.capacity) {
      this.siftUp(this.size++, score, index);
    } else if (worse(this.scores[0], this.indices[0], score, index)) {
      this.siftDown(0, score, index);
    }
  }

  sorted(): Hit[] {
    const out: Hit[] = [];
    for (let i = 0; i < this.size; i++) out.push({ index: this.indices[i], score: this.scores[i] });
    out.sort((x, y) => (y.score - x.score) || (x.index - y.index));
    return out;
  }

  private siftUp(pos: number, score: number, index: number): void {
    const { scores, indices } = this;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      if (!worse(score, index, scores[parent], indices[parent])) break;
      scores[pos] = scores[parent];
      indices[pos] = indices[parent];
      pos = parent;
    }
    scores[pos] = score;
    indices[pos] = index;
  }

  private siftDown(pos: number, score: number, index: number): void {
    const { scores, indices, size } = this;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= size) break;
      const r = l + 1;
      const m = r < size && worse(scores[r], indices[r], scores[l], indices[l]) ? r : l;
      if (!worse(scores[m], indices[m], score, index)) break;
      scores[pos] = scores[m];
      indices[pos] = indices[m];
      pos = m;
    }
    scores[pos] = score;
    indices[pos] = index;
  }
}

function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}
