import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { cachedCorpusVectors, corpusCacheKey, encodeCorpusCached, type EncodeCorpusOptions } from "./cache.js";

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

describe("cachedCorpusVectors", () => {
  const spec = { modelId: "org/minilm", pooling: "mean", normalized: true, dims: DIMS };
  it("computes on a miss and never again on a hit", async () => {
    let calls = 0;
    const compute = async (): Promise<{ ids: string[]; vectors: Float32Array }> => {
      calls++;
      return { ids, vectors: fakeEncode(texts) };
    };
    const first = await cachedCorpusVectors(cacheDir, "k1", compute, spec);
    expect(first.hit).toBe(false);
    expect(calls).toBe(1);
    const second = await cachedCorpusVectors(cacheDir, "k1", compute, spec);
    expect(second.hit).toBe(true);
    expect(calls).toBe(1);
    expect(second.index.ids).toEqual(ids);
    expect(second.index.vectors).toEqual(fakeEncode(texts));
    await cachedCorpusVectors(cacheDir, "k2", compute, spec);
    expect(calls).toBe(2);
  });

  it("does not treat an interrupted resumable entry as a hit", async () => {
    let n = 0;
    await expect(
      encodeCorpusCached(
        options({
          key: "k3",
          encodeBatch: async (b) => {
            if (++n > 1) throw new Error("stop");
            return fakeEncode(b);
          },
        }),
      ),
    ).rejects.toThrow("stop");
    let calls = 0;
    const r = await cachedCorpusVectors(
      cacheDir,
      "k3",
      async () => {
        calls++;
        return { ids, vectors: fakeEncode(texts) };
      },
      spec,
    );
    expect(calls).toBe(1);
    expect(r.index.size).toBe(N);
  });
});
