import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { Encoder, loadModel, type LoadedModel } from "../model/encoder.js";
import type { Tensor } from "../model/safetensors.js";
import { defaultModelSpec } from "../model/spec.js";
import { ExpertEncoder } from "./expert-encoder.js";
import { randomExpert } from "./init.js";
import { loadExpert, saveExpert } from "./peft.js";
import { loraScale, type LoraExpert } from "./types.js";

const TEXTS = [
  "what causes muscle cramps at night",
  "BRCA1 mutations raise the lifetime risk of breast cancer.",
  "how to reverse a linked list",
  "Is the Earth's climate sensitivity above three degrees?",
  "cheap flights",
  "The mitochondrion is the powerhouse of the cell, producing most of its ATP.",
];

let base: LoadedModel;
let plain: Encoder;
let xenc: ExpertEncoder;
let e1: LoraExpert, e2: LoraExpert, e3: LoraExpert;
const tmp = mkdtempSync(join(tmpdir(), "rr-xenc-"));

beforeAll(async () => {
  base = loadModel(defaultModelSpec());
  // Different ranks, alphas, targets and scale rules, so padding, scale folding and the union of modules are all exercised.
  e1 = randomExpert(base, { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "value"] }, 11, { id: "e1" });
  e2 = randomExpert(base, { rank: 4, alpha: 16, dropout: 0.1, targetModules: ["query", "key", "value"] }, 12, { id: "e2" });
  e3 = randomExpert(base, { rank: 6, alpha: 8, dropout: 0, targetModules: ["query", "intermediate.dense"], useRslora: true }, 13, { id: "e3", bBound: 0.03 });
  plain = await Encoder.create(base);
  // Targets narrowed to PEFT's query+value, so the union with the experts' modules (and a refusal outside it) shows.
  xenc = await ExpertEncoder.create(base, [e1, e2, e3], { targets: ["query", "value"] });
});

afterAll(async () => {
  await plain?.close();
  await xenc?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const D = 384;
const row = (v: Float32Array, i: number): Float32Array => v.subarray(i * D, (i + 1) * D);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; }
  return dot / Math.sqrt(na * nb);
}

/**
 * W' = W + sum_e w_e * scale_e * B_e @ A_e on every adapted module: the LoRA maths (and a soft
 * mix of experts) done a second, independent way, in the base weights.
 */
function merged(model: LoadedModel, expert: LoraExpert, mix: ReadonlyArray<readonly [LoraExpert, number]> = [[expert, 1]]): LoadedModel {
  const weights = new Map<string, Tensor>(model.weights);
  for (const [ex, wt] of mix) {
    const r = ex.config.rank;
    const s = wt * loraScale(ex.config);
    for (const [module, { A, B }] of ex.weights) {
      const w = weights.get(`${module}.weight`)!;
      const [out, inF] = w.shape as [number, number];
      const data = Float32Array.from(w.data);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inF; i++) {
          let acc = 0;
          for (let k = 0; k < r; k++) acc += B[o * r + k]! * A[k * inF + i]!;
          data[o * inF + i] = w.data[o * inF + i]! + s * acc;
        }
      }
      weights.set(`${module}.weight`, { shape: w.shape, data });
    }
  }
  return { ...model, weights };
}

describe("ExpertEncoder", () => {
  it("by default adapts every linear layer, so an expert trained with the default targets can be added later", async () => {
    const enc = await ExpertEncoder.create(base, []);
    try {
      expect(enc.modules.length).toBe(6 * 6);
      enc.addExpert(randomExpert(base, { rank: 4, alpha: 8, dropout: 0, targetModules: ["query", "key", "value", "dense"] }, 21, { id: "all" }));
      expect(enc.expertIds).toEqual(["all"]);
    } finally {
      await enc.close();
    }
  });

  it("builds one session over the union of the experts' modules", () => {
    expect(xenc.modules.length).toBe(6 * 4); // query, key, value, intermediate.dense in each of 6 layers
    expect(xenc.expertIds).toEqual(["e1", "e2", "e3"]);
  });

  it("(c) base rows equal the plain Encoder", async () => {
    const ref = await plain.encode(TEXTS);
    const got = await xenc.encode(TEXTS, "base", { batchSize: 4 });
    expect(maxAbsDiff(got, ref)).toBeLessThan(1e-5);
  });

  it("(d) a mixed batch equals running each expert alone", async () => {
    const ids = ["e1", "base", "e2", "e3", "e1", "e3"];
    const mixed = await xenc.encode(TEXTS, ids); // all six rows in one ORT run
    const ref = await plain.encode(TEXTS);
    for (const id of new Set(ids)) {
      const rows = ids.flatMap((x, i) => (x === id ? [i] : []));
      const alone = await xenc.encode(rows.map((i) => TEXTS[i]!), id);
      rows.forEach((i, j) => {
        expect(maxAbsDiff(row(mixed, i), row(alone, j)), `${id} row ${i}`).toBeLessThan(1e-5);
        // Non-trivial: the expert really moved the embedding (base rows must not move).
        const moved = 1 - cosine(row(mixed, i), row(ref, i));
        if (id === "base") expect(moved).toBeLessThan(1e-6);
        else expect(moved, `${id} row ${i} moved`).toBeGreaterThan(1e-3);
      });
    }
  });

  it("(e) the stacked graph equals the expert merged into the base weights", async () => {
    for (const expert of [e1, e2, e3]) {
      const mergedEnc = await Encoder.create(merged(base, expert));
      const ref = await mergedEnc.encode(TEXTS);
      await mergedEnc.close();
      const got = await xenc.encode(TEXTS, expert.id);
      for (let i = 0; i < TEXTS.length; i++) expect(cosine(row(got, i), row(ref, i)), `${expert.id} row ${i}`).toBeGreaterThan(0.99999);
    }
  });

  it("(f) a soft mix in one pass equals the weighted deltas merged into the base weights", async () => {
    const mix: ReadonlyArray<readonly [LoraExpert, number]> = [[e1, 0.6], [e2, 0.3], [e3, 0.1]];
    const mergedEnc = await Encoder.create(merged(base, e1, mix));
    const ref = await mergedEnc.encode(TEXTS);
    await mergedEnc.close();
    // Rows with different mixes share one run: the mixed rows, a one-hot row and a base row.
    const mixes = TEXTS.map((_, i): Record<string, number> => (i === 4 ? { e2: 1 } : i === 5 ? { base: 1 } : { e1: 0.6, e2: 0.3, e3: 0.1 }));
    const got = await xenc.encodeMixed(TEXTS, mixes);
    const alone = await xenc.encode(TEXTS, "e2");
    const plainRef = await plain.encode(TEXTS);
    for (let i = 0; i < 4; i++) {
      expect(cosine(row(got, i), row(ref, i)), `mixed row ${i}`).toBeGreaterThan(0.99999);
      // Non-trivial: the mix differs from each expert alone.
      expect(1 - cosine(row(got, i), row(alone, i))).toBeGreaterThan(1e-4);
    }
    expect(maxAbsDiff(row(got, 4), row(alone, 4))).toBeLessThan(1e-5);
    expect(maxAbsDiff(row(got, 5), row(plainRef, 5))).toBeLessThan(1e-5);
    await expect(xenc.encodeMixed(TEXTS.slice(0, 1), [{ nope: 1 }])).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(xenc.encodeMixed(TEXTS.slice(0, 1), [{ e1: Number.NaN }])).rejects.toMatchObject({ code: "BAD_INPUT" });
  });

  it("adds and removes experts without a new session, keeping results", async () => {
    const before = await xenc.encode(TEXTS, "e2");
    expect(xenc.removeExpert("e2")).toBe(true);
    expect(xenc.removeExpert("e2")).toBe(false);
    await expect(xenc.encode(TEXTS, "e2")).rejects.toMatchObject({ code: "NOT_FOUND" });
    xenc.addExpert(e2); // now in slot 3, and a larger-rank expert changes the padding
    const big = randomExpert(base, { rank: 16, alpha: 32, dropout: 0, targetModules: ["value"] }, 14, { id: "big" });
    xenc.addExpert(big);
    expect(xenc.expertIds).toEqual(["e1", "e3", "e2", "big"]);
    expect(maxAbsDiff(await xenc.encode(TEXTS, "e2"), before)).toBeLessThan(1e-5);
    const bigRef = await Encoder.create(merged(base, big));
    const want = await bigRef.encode(TEXTS);
    await bigRef.close();
    const got = await xenc.encode(TEXTS, "big");
    for (let i = 0; i < TEXTS.length; i++) expect(cosine(row(got, i), row(want, i))).toBeGreaterThan(0.99999);

    expect(() => xenc.addExpert(e1)).toThrow(RouterRetrieverError); // duplicate id
    const outside = randomExpert(base, { rank: 8, alpha: 32, dropout: 0, targetModules: ["output.dense"] }, 15, { id: "outside" });
    expect(() => xenc.addExpert(outside)).toThrow(/not built for/);
    expect(xenc.expertIds).toEqual(["e1", "e3", "e2", "big"]); // a refused change leaves the set as it was
    xenc.setExperts([e1, e2, e3]);
  });

  it("serves an expert loaded from its PEFT folder identically", async () => {
    saveExpert(join(tmp, "e1"), e1);
    const loaded = loadExpert(join(tmp, "e1"), base);
    const solo = await ExpertEncoder.create(base, [loaded]);
    const a = await solo.encode(TEXTS, "e1");
    const b = await xenc.encode(TEXTS, "e1");
    await solo.close();
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
  });

  it("refuses mismatched inputs", async () => {
    await expect(xenc.encode(TEXTS, ["e1"])).rejects.toMatchObject({ code: "BAD_INPUT" });
    await expect(xenc.encode(TEXTS, "nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(() => xenc.addExpert({ ...e1, id: "base" })).toThrow(RouterRetrieverError);
  });
});
