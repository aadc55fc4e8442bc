import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { corpusCacheKey, encodeCorpusCached, type EncodeCorpusOptions } from "./cache.js";
import { openIndex } from "./store.js";

const DIMS = 8;

/** Deterministic stand-in for the encoder: a unit vector derived from each text. */
function fakeEncode(texts: string[]): Float32Array {
  const out = new Float32Array(texts.length * DIMS);
  texts.forEach((text, r) => {
    let h = 2166136261;
    for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
    let norm = 0;
    for (let t = 0; t < DIMS; t++) {
      h = Math.imul(h ^ (h >>> 13), 0x5bd1e995);
      const v = ((h >>> 0) / 4294967296) * 2 - 1;
      out[r * DIMS + t] = v;
      norm += v * v;
    }
    for (let t = 0; t < DIMS; t++) out[r * DIMS + t] /= Math.sqrt(norm);
  });
  return out;
}

const N = 23;
const ids = Array.from({ length: N }, (_, i) => `doc${i}`);
const texts = ids.map((id) => `text of ${id}`);

let cacheDir: string;
beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), "rr-cache-"));
});
afterEach(() => {
  rmSync(cacheDir, { recursive: true, force: true });
});

function options(overrides: Partial<EncodeCorpusOptions> = {}): EncodeCorpusOptions {
  return {
    cacheDir,
    modelId: "org/minilm",
    pooling: "mean",
    normalized: true,
    maxLength: 256,
    dims: DIMS,
    ids,
    texts,
    chunkSize: 5,
    encodeBatch: async (batch) => fakeEncode(batch),
    ...overrides,
  };
}

describe("corpusCacheKey", () => {
  const base = { modelId: "m", pooling: "mean", normalized: true, maxLength: 512, ids: ["a", "b"], texts: ["x", "y"] };
  it("is stable and sensitive to everything that changes the vectors", () => {
    const k = corpusCacheKey(base);
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(corpusCacheKey({ ...base })).toBe(k);
    const variants = [
      { ...base, modelId: "m2" },
      { ...base, pooling: "cls" },
      { ...base, normalized: false },
      { ...base, maxLength: 256 },
      { ...base, maxLength: null },
      { ...base, texts: ["x", "y!"] },
      { ...base, ids: ["a", "c"] },
      { ...base, ids: ["b", "a"], texts: ["y", "x"] },
      { ...base, ids: ["a", "b\nx"], texts: ["x", ""] },
      { ...base, extra: { prefix: "passage: " } },
    ];
    const keys = new Set(variants.map(corpusCacheKey));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(k)).toBe(false);
  });

  it("keeps its format, so the caches already on disk stay valid", () => {
    expect(corpusCacheKey(base)).toBe("8bc75e9b5d3e5fd01bdf83c51cc729a14606fdb33ac4662150cb377eae105df2");
  });
});

describe("encodeCorpusCached", () => {
  it("encodes once, then serves the stored vectors without calling the encoder", async () => {
    let calls = 0;
    const encodeBatch = async (batch: string[]): Promise<Float32Array> => {
      calls++;
      return fakeEncode(batch);
    };
    const first = await encodeCorpusCached(options({ encodeBatch }));
    expect(first.hit).toBe(false);
    expect(first.encoded).toBe(N);
    expect(calls).toBe(Math.ceil(N / 5));
    expect(first.index.vectors).toEqual(fakeEncode(texts));
    expect(first.dir).toBe(join(cacheDir, first.key));
    expect(first.key).toBe(corpusCacheKey({ ...options(), maxLength: 256 }));

    calls = 0;
    const second = await encodeCorpusCached(options({ encodeBatch }));
    expect(calls).toBe(0);
    expect(second.hit).toBe(true);
    expect(second.encoded).toBe(0);
    expect(second.index.ids).toEqual(ids);
    expect(second.index.vectors).toEqual(first.index.vectors);

    // A changed corpus is a different key, hence a miss.
    await encodeCorpusCached(options({ encodeBatch, texts: texts.map((t, i) => (i === 3 ? t + "!" : t)) }));
    expect(calls).toBeGreaterThan(0);
  });

  it("resumes after an interruption and ends with the same vectors as an uninterrupted run", async () => {
    const reference = await encodeCorpusCached(options({ cacheDir: join(cacheDir, "ref") }));
    const refBatches: string[][] = [];
    await encodeCorpusCached(
      options({
        cacheDir: join(cacheDir, "ref2"),
        encodeBatch: async (b) => {
          refBatches.push(b);
          return fakeEncode(b);
        },
      }),
    );

    let calls = 0;
    const failing = async (batch: string[]): Promise<Float32Array> => {
      if (++calls > 2) throw new Error("simulated interruption");
      return fakeEncode(batch);
    };
    const progress: number[] = [];
    await expect(encodeCorpusCached(options({ encodeBatch: failing, onProgress: (p) => progress.push(p.done) }))).rejects.toThrow(
      /simulated interruption/,
    );
    expect(progress).toEqual([5, 10]);

    const batches: string[][] = [];
    const resumed = await encodeCorpusCached(
      options({
        encodeBatch: async (b) => {
          batches.push(b);
          return fakeEncode(b);
        },
      }),
    );
    expect(resumed.hit).toBe(false);
    expect(resumed.resumedFrom).toBe(10);
    expect(resumed.encoded).toBe(N - 10);
    // Only the remaining documents were encoded, in the same batches an uninterrupted run uses.
    expect(batches.flat()).toEqual(texts.slice(10));
    expect(batches).toEqual(refBatches.slice(2));
    expect(resumed.index.ids).toEqual(reference.index.ids);
    expect(resumed.index.vectors).toEqual(reference.index.vectors);
    resumed.index.verify();

    const again = await encodeCorpusCached(options({ encodeBatch: failing }));
    expect(again.hit).toBe(true);
  });

  it("rebuilds a corrupt entry instead of trusting it", async () => {
    const first = await encodeCorpusCached(options());
    const vec = join(first.dir, "vectors.f32");
    const bytes = readFileSync(vec);
    bytes[3] ^= 0x40;
    writeFileSync(vec, bytes);
    let calls = 0;
    const second = await encodeCorpusCached(
      options({
        encodeBatch: async (b) => {
          calls++;
          return fakeEncode(b);
        },
      }),
    );
    expect(second.discarded).toMatch(/checksum mismatch/);
    expect(calls).toBe(Math.ceil(N / 5));
    expect(second.index.vectors).toEqual(fakeEncode(texts));
  });

  it("refuses an entry stored under the same key by another model", async () => {
    await encodeCorpusCached(options({ key: "fixed" }));
    const err = await encodeCorpusCached(options({ key: "fixed", modelId: "org/other" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RouterRetrieverError);
    expect((err as RouterRetrieverError).code).toBe("MODEL_MISMATCH");
  });

  it("rejects an encoder that returns the wrong number of floats, and unsafe keys", async () => {
    await expect(encodeCorpusCached(options({ encodeBatch: async () => new Float32Array(3) }))).rejects.toThrow(
      /returned 3 floats for 5 texts/,
    );
    await expect(encodeCorpusCached(options({ key: "../escape" }))).rejects.toThrow(/not usable as a folder name/);
  });

  it("handles an empty corpus", async () => {
    const r = await encodeCorpusCached(options({ ids: [], texts: [] }));
    expect(r.index.size).toBe(0);
    const again = await encodeCorpusCached(options({ ids: [], texts: [], encodeBatch: () => Promise.reject(new Error("no")) }));
    expect(again.hit).toBe(true);
  });
});

describe("one encoding per distinct text", () => {
  // Texts repeat (as CoSQA's do): rows 0, 4, 9, 15 share a text, and so do 2 and 13.
  const dupTexts = texts.map((t, i) => ([4, 9, 15].includes(i) ? texts[0]! : i === 13 ? texts[2]! : t));
  /** An encoder whose last bits depend on the batch, as real batched inference's can. */
  const batchNoise = (batch: string[]): Float32Array => {
    const v = fakeEncode(batch);
    for (let i = 0; i < v.length; i++) v[i] += batch.length * 1e-7;
    return v;
  };
  const rows = (v: Float32Array, i: number): Float32Array => v.slice(i * DIMS, (i + 1) * DIMS);

  it("encodes each distinct text once and copies its row to the twins, bit for bit", async () => {
    const seen: string[] = [];
    const r = await encodeCorpusCached(
      options({
        texts: dupTexts,
        encodeBatch: async (b) => {
          seen.push(...b);
          return batchNoise(b);
        },
      }),
    );
    expect(seen).toEqual([...new Set(dupTexts)]);
    expect(r.encoded).toBe(new Set(dupTexts).size);
    for (const i of [4, 9, 15]) expect(rows(r.index.vectors, i)).toEqual(rows(r.index.vectors, 0));
    expect(rows(r.index.vectors, 13)).toEqual(rows(r.index.vectors, 2));
    // The key is over ids and texts as before: the rule changes no key.
    expect(r.key).toBe(corpusCacheKey({ ...options(), texts: dupTexts, maxLength: 256 }));
  });

  it("an interrupted and resumed run equals an uninterrupted one", async () => {
    const reference = await encodeCorpusCached(options({ cacheDir: join(cacheDir, "ref"), texts: dupTexts, encodeBatch: async (b) => batchNoise(b) }));
    let calls = 0;
    const failing = async (b: string[]): Promise<Float32Array> => {
      if (++calls > 2) throw new Error("stop");
      return batchNoise(b);
    };
    await expect(encodeCorpusCached(options({ texts: dupTexts, encodeBatch: failing }))).rejects.toThrow("stop");
    const resumed = await encodeCorpusCached(options({ texts: dupTexts, encodeBatch: async (b) => batchNoise(b) }));
    expect(resumed.resumedFrom).toBe(10);
    expect(resumed.index.vectors).toEqual(reference.index.vectors);
    resumed.index.verify();
  });

  it("makes the twins of an entry written before the rule identical in memory, leaving the entry as stored", async () => {
    // An old entry: every document encoded, twins in different chunks, so their last bits differ.
    // Written through distinct stand-in texts, under the dup corpus's key.
    const key = corpusCacheKey({ ...options(), texts: dupTexts, maxLength: 256 });
    const oldEncode = async (b: string[]): Promise<Float32Array> => {
      const v = fakeEncode(b.map((t) => dupTexts[texts.indexOf(t)]!));
      for (let i = 0; i < v.length; i++) v[i] += (texts.indexOf(b[0]!) + 5) * 1e-7;
      return v;
    };
    const old = await encodeCorpusCached(options({ key, texts, encodeBatch: oldEncode }));
    const stored = Float32Array.from(old.index.vectors);
    expect(rows(stored, 9)).not.toEqual(rows(stored, 0));
    expect(rows(stored, 9)[0]).toBeCloseTo(rows(stored, 0)[0]!, 5);
    const hit = await encodeCorpusCached(options({ key, texts: dupTexts, encodeBatch: () => Promise.reject(new Error("must not encode")) }));
    expect(hit.hit).toBe(true);
    for (const i of [4, 9, 15]) expect(rows(hit.index.vectors, i)).toEqual(rows(stored, 0));
    expect(rows(hit.index.vectors, 13)).toEqual(rows(stored, 2));
    const onDisk = openIndex(hit.dir, { modelId: "org/minilm", dims: DIMS, verify: true });
    expect(onDisk.vectors).toEqual(stored);
  });
});
