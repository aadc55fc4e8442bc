/**
 * Packs experts into the stacked LoRA inputs of the "stacked" BERT graph: per adapted module,
 * A [experts+1, R, in] and B [experts+1, out, R], slot 0 all zeros (the base model) and slot
 * e = experts[e-1]. R is the largest rank; a smaller-rank expert is zero-padded, which is
 * exact (the padded rank rows of A produce zeros that the padded columns of B multiply by
 * zero). The alpha/r scale is folded into B so the graph needs no per-expert scale input.
 * A module an expert does not adapt stays zero in its slot, which is also exact.
 */
import type { Feed } from "../graph/session.js";
import { loraScale, type LoraExpert } from "./types.js";

export interface StackModule {
  readonly module: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Graph input names for this module's stacks. */
  readonly aInput: string;
  readonly bInput: string;
}

export interface ExpertStacks {
  /** Slots = experts + 1 (slot 0 is the base). */
  readonly slots: number;
  readonly rank: number;
  readonly feeds: Readonly<Record<string, Feed>>;
}

export function stackExperts(modules: readonly StackModule[], experts: readonly LoraExpert[]): ExpertStacks {
  const slots = experts.length + 1;
  // Rank 1 when there are no experts: a zero-sized axis is legal ONNX but not worth the risk in ORT kernels.
  const R = Math.max(1, ...experts.map((e) => e.config.rank));
  const feeds: Record<string, Feed> = {};
  for (const m of modules) {
    const { inFeatures: inF, outFeatures: outF } = m;
    const A = new Float32Array(slots * R * inF);
    const B = new Float32Array(slots * outF * R);
    experts.forEach((expert, i) => {
      const w = expert.weights.get(m.module);
      if (!w) return;
      const e = i + 1;
      const r = expert.config.rank;
      const scale = loraScale(expert.config);
      // A's r rows of length `in` are contiguous in both layouts; rows r..R-1 stay zero.
      A.set(w.A, e * R * inF);
      const base = e * outF * R;
      for (let o = 0; o < outF; o++) {
        for (let k = 0; k < r; k++) B[base + o * R + k] = scale * w.B[o * r + k]!;
      }
    });
    feeds[m.aInput] = { data: A, dims: [slots, R, inF] };
    feeds[m.bInput] = { data: B, dims: [slots, outF, R] };
  }
  return { slots, rank: R, feeds };
}
