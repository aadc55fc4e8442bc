/** Two principal components by power iteration with deflation: enough for a 2-D scatter plot. */
import { rng } from "../util/random.js";

export function pca2(rows: Float32Array, n: number, d: number, seed = 0): Float64Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += rows[i * d + j]! / n;
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = rows[i * d + j]! - mean[j]!;
  const rand = rng(seed);
  const comps: Float64Array[] = [];
  for (let c = 0; c < 2; c++) {
    let v = Float64Array.from({ length: d }, () => rand() - 0.5);
    for (let it = 0; it < 100; it++) {
      // v <- X^T X v, minus the earlier components (deflation).
      const xv = new Float64Array(n);
      for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < d; j++) s += x[i * d + j]! * v[j]!; xv[i] = s; }
      const w = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) w[j]! += x[i * d + j]! * xv[i]!;
      for (const p of comps) { let dot = 0; for (let j = 0; j < d; j++) dot += w[j]! * p[j]!; for (let j = 0; j < d; j++) w[j]! -= dot * p[j]!; }
      const norm = Math.hypot(...w) || 1;
      v = w.map((t) => t / norm);
    }
    comps.push(v);
  }
  const out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) for (let c = 0; c < 2; c++) { let s = 0; for (let j = 0; j < d; j++) s += x[i * d + j]! * comps[c]![j]!; out[i * 2 + c] = s; }
  return out;
}
