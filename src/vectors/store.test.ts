import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { createIndex, openIndex, type IndexSpec } from "./store.js";

// Lets a test make the manifest write fail, i.e. crash between the data writes and the commit.
const crash = vi.hoisted(() => ({ manifestWrite: false }));
vi.mock("../util/atomic.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../util/atomic.js")>();
  return {
    ...actual,
    writeJsonAtomic: (path: string, value: unknown): void => {
      if (crash.manifestWrite && path.endsWith("manifest.json")) throw new Error("simulated crash before manifest commit");
      actual.writeJsonAtomic(path, value);
    },
  };
});

const spec: IndexSpec = { modelId: "org/minilm", dims: 4, pooling: "mean", normalized: false };

function rows(n: number, seed: number, dims = 4): Float32Array {
  const v = new Float32Array(n * dims);
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(seed * 1000 + i * 1.37);
  return v;
}

function catchError(fn: () => unknown): RouterRetrieverError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RouterRetrieverError);
    return err as RouterRetrieverError;
  }
  throw new Error("expected an error");
}

let dir: string;
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), "rr-store-")), "idx");
  crash.manifestWrite = false;
});
afterEach(() => {
  rmSync(join(dir, ".."), { recursive: true, force: true });
});

describe("vector index store", () => {
  it("round-trips ids, vectors, manifest and search results", () => {
    const idx = createIndex(dir, { ...spec, corpusFingerprint: "fp1" });
    expect(idx.size).toBe(0);
    const a = rows(3, 1);
    const b = rows(2, 2);
    idx.add(["d1", "d2", "d3"], a);
    idx.add(["d4", "d5"], b);
    expect(idx.size).toBe(5);
    expect(idx.committedSize).toBe(0);
    idx.save();

    const all = new Float32Array(20);
    all.set(a);
    all.set(b, 12);
    expect(statSync(join(dir, "vectors.f32")).size).toBe(5 * 4 * 4);
    expect(JSON.parse(readFileSync(join(dir, "ids.json"), "utf8"))).toEqual(["d1", "d2", "d3", "d4", "d5"]);
    // Little-endian float32 rows, regardless of host order.
    const raw = readFileSync(join(dir, "vectors.f32"));
    expect(raw.readFloatLE(4 * 5)).toBe(all[5]);

    const re = openIndex(dir, { modelId: "org/minilm", dims: 4, verify: true });
    expect(re.size).toBe(5);
    expect(re.ids).toEqual(["d1", "d2", "d3", "d4", "d5"]);
    expect(re.vectors).toEqual(all);
    expect(re.get("d4")).toEqual(b.subarray(0, 4));
    expect(re.get("nope")).toBeUndefined();
    const m = re.manifest;
    expect(m).toMatchObject({
      format: "routerretriever-vector-index",
      version: 1,
      modelId: "org/minilm",
      dims: 4,
      pooling: "mean",
      normalized: false,
      count: 5,
      corpusFingerprint: "fp1",
    });
    expect(m.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Date.parse(m.createdAt)).not.toBeNaN();
    re.verify();

    const q = all.slice(8, 12); // d3's own vector
    const [hits] = re.search(q, 2);
    expect(hits.map((h) => h.id)).toEqual(idx.search(q, 2)[0].map((h) => h.id));
    const [excl] = re.search(q, 2, { excludeIds: ["d3"] });
    expect(excl.map((h) => h.id)).not.toContain("d3");
    expect(excl).toHaveLength(2);
    const [byFn] = re.search(q, 5, { exclude: (_q, id) => id.startsWith("d1") });
    expect(byFn.map((h) => h.id).sort()).toEqual(["d2", "d3", "d4", "d5"]);
  });

  it("appends to a reopened index without rewriting earlier rows", () => {
    const idx = createIndex(dir, spec);
    idx.add(["a", "b"], rows(2, 1));
    idx.save();
    const before = readFileSync(join(dir, "vectors.f32"));
    const re = openIndex(dir);
    re.add(["c"], rows(1, 2));
    re.save();
    const after = readFileSync(join(dir, "vectors.f32"));
    expect(after.subarray(0, before.length)).toEqual(before);
    const again = openIndex(dir, { verify: true });
    expect(again.ids).toEqual(["a", "b", "c"]);
    expect(again.get("c")).toEqual(rows(1, 2));
  });

  it("refuses duplicate ids and wrongly shaped or non-finite vectors", () => {
    const idx = createIndex(dir, spec);
    idx.add(["a"], rows(1, 1));
    expect(catchError(() => idx.add(["a"], rows(1, 2))).code).toBe("CONFLICT");
    expect(catchError(() => idx.add(["x", "x"], rows(2, 2))).message).toMatch(/duplicate doc id "x"/);
    expect(catchError(() => idx.add(["y"], rows(2, 2))).code).toBe("SHAPE_MISMATCH");
    expect(catchError(() => idx.add(["z"], new Float32Array([1, NaN, 0, 0]))).code).toBe("BAD_INPUT");
    expect(idx.size).toBe(1); // failed adds change nothing
    expect(idx.has("x")).toBe(false);
  });

  it("checks rows against a declared normalization", () => {
    const idx = createIndex(dir, { ...spec, normalized: true });
    expect(() => idx.add(["a"], new Float32Array([1, 1, 0, 0]))).toThrow(/norm 1\.41/);
    idx.add(["b"], new Float32Array([0.6, 0.8, 0, 0]));
    expect(idx.size).toBe(1);
  });

  it("refuses a model or dims mismatch, naming both sides", () => {
    createIndex(dir, spec).save();
    const e = catchError(() => openIndex(dir, { modelId: "org/e5-large", dims: 1024 }));
    expect(e.code).toBe("MODEL_MISMATCH");
    expect(e.message).toContain("org/minilm");
    expect(e.message).toContain("org/e5-large");
    expect(e.message).toContain("dims 4");
    expect(e.message).toContain("dims 1024");
    const d = catchError(() => openIndex(dir, { modelId: "org/minilm", dims: 8 }));
    expect(d.code).toBe("MODEL_MISMATCH");
    expect(d.message).toMatch(/stored .*dims 4.*expected .*dims 8/);
    expect(catchError(() => openIndex(dir, { pooling: "cls" })).code).toBe("MODEL_MISMATCH");
    expect(openIndex(dir, { modelId: "org/minilm", dims: 4 }).size).toBe(0);
  });

  it("detects corrupt and truncated files, naming the file", () => {
    const idx = createIndex(dir, spec);
    idx.add(["a", "b", "c"], rows(3, 1));
    idx.save();
    const vec = join(dir, "vectors.f32");
    const good = readFileSync(vec);

    // A flipped byte: open stays cheap and succeeds; the checksum catches it.
    const flipped = Buffer.from(good);
    flipped[17] ^= 0xff;
    writeFileSync(vec, flipped);
    expect(openIndex(dir).size).toBe(3);
    const v = catchError(() => openIndex(dir).verify());
    expect(v.code).toBe("PARSE_ERROR");
    expect(v.message).toMatch(/vectors\.f32.*checksum mismatch/);
    expect(catchError(() => openIndex(dir, { verify: true })).message).toMatch(/checksum mismatch/);
    // ... and an append refuses to build on corrupt rows.
    const re = openIndex(dir);
    re.add(["d"], rows(1, 4));
    expect(catchError(() => re.save()).message).toMatch(/checksum mismatch/);

    writeFileSync(vec, good);
    truncateSync(vec, good.length - 5);
    const t = catchError(() => openIndex(dir));
    expect(t.code).toBe("PARSE_ERROR");
    expect(t.message).toContain(vec);
    expect(t.message).toMatch(/truncated/);

    writeFileSync(vec, good);
    const ids = join(dir, "ids.json");
    writeFileSync(ids, JSON.stringify(["a", "b"]));
    const c = catchError(() => openIndex(dir));
    expect(c.message).toContain(ids);
    expect(c.message).toMatch(/2 ids but the manifest commits 3/);
    writeFileSync(ids, JSON.stringify(["a", "b", "a"]));
    expect(catchError(() => openIndex(dir)).message).toMatch(/duplicate id "a"/);
    writeFileSync(ids, JSON.stringify(["a", "b", "x"]));
    expect(catchError(() => openIndex(dir, { verify: true })).message).toMatch(/checksum mismatch/);
    writeFileSync(ids, JSON.stringify(["a", "b", "c"]));
    openIndex(dir, { verify: true });

    const man = join(dir, "manifest.json");
    const manifest = JSON.parse(readFileSync(man, "utf8")) as Record<string, unknown>;
    writeFileSync(man, JSON.stringify({ ...manifest, count: 4 }));
    expect(catchError(() => openIndex(dir)).message).toMatch(/ids\.json: .*3 ids but the manifest commits 4/);
    writeFileSync(man, "{ not json");
    const p = catchError(() => openIndex(dir));
    expect(p.code).toBe("PARSE_ERROR");
    expect(p.message).toContain(man);
    writeFileSync(man, JSON.stringify({ ...manifest, version: 99 }));
    expect(catchError(() => openIndex(dir)).code).toBe("UNSUPPORTED");

    expect(catchError(() => openIndex(join(dir, "missing"))).code).toBe("NOT_FOUND");
  });

  it("keeps the previous commit readable when an append dies before the manifest commit", () => {
    const idx = createIndex(dir, spec);
    idx.add(["a", "b"], rows(2, 1));
    idx.save();
    const committed = openIndex(dir).vectors.slice();

    idx.add(["c", "d"], rows(2, 2));
    crash.manifestWrite = true;
    expect(() => idx.save()).toThrow(/simulated crash/);
    crash.manifestWrite = false;
    // The data files did get the new rows; only the commit is missing.
    expect(statSync(join(dir, "vectors.f32")).size).toBe(4 * 4 * 4);
    expect(JSON.parse(readFileSync(join(dir, "ids.json"), "utf8"))).toEqual(["a", "b", "c", "d"]);

    const re = openIndex(dir, { verify: true });
    expect(re.ids).toEqual(["a", "b"]);
    expect(re.vectors).toEqual(committed);
    expect(re.has("c")).toBe(false);

    // A later append from a fresh process cuts the uncommitted tail and commits cleanly.
    re.add(["e"], rows(1, 3));
    re.save();
    expect(statSync(join(dir, "vectors.f32")).size).toBe(3 * 4 * 4);
    const after = openIndex(dir, { verify: true });
    expect(after.ids).toEqual(["a", "b", "e"]);
    expect(after.get("e")).toEqual(rows(1, 3));
    expect(after.get("a")).toEqual(committed.subarray(0, 4));
  });

  it("a failed save can be retried from the same handle", () => {
    const idx = createIndex(dir, spec);
    idx.add(["a"], rows(1, 1));
    crash.manifestWrite = true;
    expect(() => idx.save()).toThrow(/simulated crash/);
    crash.manifestWrite = false;
    // Torn tail bytes, as a crash mid-write would leave, must not matter either.
    appendFileSync(join(dir, "vectors.f32"), Buffer.from([1, 2, 3]));
    expect(openIndex(dir).size).toBe(0);
    idx.save();
    const re = openIndex(dir, { verify: true });
    expect(re.ids).toEqual(["a"]);
    expect(statSync(join(dir, "vectors.f32")).size).toBe(16);
  });

  it("refuses to commit over another writer's commit", () => {
    createIndex(dir, spec).save();
    const one = openIndex(dir);
    const two = openIndex(dir);
    one.add(["a"], rows(1, 1));
    one.save();
    two.add(["b"], rows(1, 2));
    expect(catchError(() => two.save()).code).toBe("CONFLICT");
    expect(openIndex(dir, { verify: true }).ids).toEqual(["a"]);
  });

  it("refuses to create over an existing index unless told to overwrite", () => {
    const idx = createIndex(dir, spec);
    idx.add(["a"], rows(1, 1));
    idx.save();
    expect(catchError(() => createIndex(dir, spec)).code).toBe("CONFLICT");
    const fresh = createIndex(dir, { ...spec, modelId: "org/other" }, { overwrite: true });
    expect(fresh.size).toBe(0);
    const re = openIndex(dir, { modelId: "org/other", verify: true });
    expect(re.size).toBe(0);
    expect(statSync(join(dir, "vectors.f32")).size).toBe(0);
  });

  it("commits meta atomically with rows", () => {
    const idx = createIndex(dir, spec);
    idx.add(["a"], rows(1, 1));
    idx.setMeta({ progress: 1 });
    idx.save();
    expect(openIndex(dir).manifest.meta).toEqual({ progress: 1 });
    idx.setMeta({ progress: 2 });
    idx.save();
    expect(openIndex(dir).manifest.meta).toEqual({ progress: 2 });
    idx.add(["b"], rows(1, 2));
    idx.save(); // meta untouched keeps the previous value
    expect(openIndex(dir, { verify: true }).manifest.meta).toEqual({ progress: 2 });
  });
});
