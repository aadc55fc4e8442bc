/**
 * The storage interface, pinned down on both backends with the same checks: the flat folder and
 * PostgreSQL + pgvector (a real PostgreSQL engine: PGlite over its wire-protocol server, reached
 * through the `pg` driver). Vectors are random unit rows; the exact top-k they must return is
 * computed here by brute force, independently of either backend.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { startPgliteServer, type PgliteServer } from "../../test/support/pglite-server.js";
import pgDriver from "pg";
import { openStore, redactStoreLocation } from "./open.js";
import { vectorLiteral } from "./postgres/connect.js";
import { DEFAULT_EF_SEARCH, INSERT_BATCH, SEARCH_SQL, searchSettings, type PostgresStore } from "./postgres/index.js";
import type { Store, StoreSpec } from "./types.js";

const DIMS = 16;
const SPEC: StoreSpec = { modelId: "test-model", dims: DIMS, pooling: "mean", normalized: true };
const root = mkdtempSync(join(tmpdir(), "rr-store-"));

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function unitRows(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const v = new Float32Array(n * DIMS);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let t = 0; t < DIMS; t++) {
      const x = r() * 2 - 1;
      v[i * DIMS + t] = x;
      norm += x * x;
    }
    for (let t = 0; t < DIMS; t++) v[i * DIMS + t]! /= Math.sqrt(norm);
  }
  return v;
}

function bruteTopK(docs: Float32Array, ids: readonly string[], q: Float32Array, row: number, k: number): string[] {
  const scores = ids.map((id, i) => {
    let s = 0;
    for (let t = 0; t < DIMS; t++) s += docs[i * DIMS + t]! * q[row * DIMS + t]!;
    return { id, s };
  });
  return scores.sort((a, b) => b.s - a.s || (a.id < b.id ? -1 : 1)).slice(0, k).map((x) => x.id);
}

const N = 300;
const ids = Array.from({ length: N }, (_, i) => `doc-${String(i).padStart(4, "0")}`);
const docs = ids.map((id, i) => ({ id, title: `Title ${i}`, text: `Text of document ${i}` }));
const vectors = unitRows(N, 7);
const queries = unitRows(5, 99);

let pg: PgliteServer;
beforeAll(async () => {
  pg = await startPgliteServer();
});
afterAll(async () => {
  await pg?.stop();
});

const backends: Array<[string, () => string]> = [
  ["flat", () => join(root, "flat")],
  ["postgres", () => pg.url],
];

describe.each(backends)("%s store", (kind, location) => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore(location(), SPEC, { exactSearch: true });
  });
  afterAll(async () => {
    await store?.close();
  });

  it("is the backend its location names", () => {
    expect(store.kind).toBe(kind);
    expect(typeof store.storeId).toBe("string");
  });

  it("appends documents with vectors and returns the exact top-k by dot product", async () => {
    await store.append(docs.slice(0, 200), vectors.slice(0, 200 * DIMS));
    await store.append(docs.slice(200), vectors.slice(200 * DIMS));
    expect(await store.count()).toBe(N);
    expect(await store.existing(["doc-0001", "nope", "doc-0299"])).toEqual(new Set(["doc-0001", "doc-0299"]));
    expect(await store.get("doc-0007")).toEqual({ id: "doc-0007", title: "Title 7", text: "Text of document 7" });
    expect(await store.get("nope")).toBeUndefined();
    const hits = await store.search(queries, 10);
    expect(hits).toHaveLength(5);
    for (let q = 0; q < 5; q++) {
      expect(hits[q]!.map((h) => h.id)).toEqual(bruteTopK(vectors, ids, queries, q, 10));
      const top = hits[q]![0]!;
      const i = ids.indexOf(top.id);
      let s = 0;
      for (let t = 0; t < DIMS; t++) s += vectors[i * DIMS + t]! * queries[q * DIMS + t]!;
      expect(top.score).toBeCloseTo(s, 5);
      expect(top.title).toBe(`Title ${i}`);
      expect(top.text).toBe(`Text of document ${i}`);
    }
  });

  it("refuses a duplicate id without adding anything (all or none)", async () => {
    const err = await store.append([{ id: "fresh", title: "", text: "x" }, docs[3]!], unitRows(2, 5)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RouterRetrieverError);
    expect((err as RouterRetrieverError).code).toBe("CONFLICT");
    expect(await store.count()).toBe(N);
    expect((await store.existing(["fresh"])).size).toBe(0);
  });

  it("tells edited documents from unchanged ones, and replaces an edited one's row (all or none, kept across reopen)", async () => {
    const edited = { ...docs[5]!, text: "Text of document 5, edited" };
    const retitled = { ...docs[6]!, title: "New title 6" };
    expect(await store.unchanged([docs[4]!, edited, retitled, { id: "nope", title: "", text: "x" }])).toEqual(new Set([docs[4]!.id]));
    const newRows = unitRows(2, 1234);
    // A replacement naming an id that is not stored changes nothing.
    const err = await store.replace([edited, { id: "nope", title: "", text: "x" }], newRows).catch((e: unknown) => e);
    expect((err as RouterRetrieverError).code).toBe("NOT_FOUND");
    expect(await store.vectorsOf([edited.id])).toEqual(vectors.slice(5 * DIMS, 6 * DIMS));
    await store.replace([edited, retitled], newRows);
    const check = async (s: Store): Promise<void> => {
      expect(await s.count()).toBe(N);
      expect(await s.get(edited.id)).toEqual(edited);
      expect(await s.get(retitled.id)).toEqual(retitled);
      expect(await s.unchanged([edited, retitled, docs[4]!])).toEqual(new Set([edited.id, retitled.id, docs[4]!.id]));
      const got = await s.vectorsOf([edited.id, retitled.id, docs[4]!.id]);
      for (let i = 0; i < 2 * DIMS; i++) expect(got[i]).toBeCloseTo(newRows[i]!, 6);
      for (let i = 0; i < DIMS; i++) expect(got[2 * DIMS + i]).toBeCloseTo(vectors[4 * DIMS + i]!, 6);
      // Search sees the new row: its own vector as the query finds it first.
      expect((await s.search(newRows.slice(0, DIMS), 1))[0]![0]!.id).toBe(edited.id);
    };
    await check(store);
    await store.close();
    store = await openStore(location(), SPEC, { exactSearch: true });
    await check(store);
    // Put the originals back for the tests below.
    await store.replace([docs[5]!, docs[6]!], vectors.slice(5 * DIMS, 7 * DIMS));
    expect(await store.unchanged([docs[5]!, docs[6]!])).toEqual(new Set([docs[5]!.id, docs[6]!.id]));
  });

  it("keeps the expert registry: active is a subset of known, deactivated stays known", async () => {
    expect(await store.readExperts()).toEqual({ active: [], known: [] });
    await store.updateExperts({ activate: ["a", "b"] });
    const st = await store.updateExperts({ deactivate: ["a"] });
    expect(st).toEqual({ active: ["b"], known: ["a", "b"] });
  });

  it("refuses to open with another model", async () => {
    await store.close();
    const err = await openStore(location(), { ...SPEC, modelId: "other-model" }).catch((e: unknown) => e);
    expect((err as RouterRetrieverError).code).toBe("MODEL_MISMATCH");
    store = await openStore(location(), SPEC, { exactSearch: true });
    expect(await store.count()).toBe(N);
    expect((await store.readExperts()).active).toEqual(["b"]);
  });
});

describe("postgres store shared by several processes", () => {
  const url = (): string => pg.url;

  it("stores an adapter folder so another process gets a byte-identical copy", async () => {
    const a = await openStore(url(), SPEC);
    const b = await openStore(url(), SPEC);
    try {
      const dir = join(root, "experts", "alpha");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "adapter_config.json"), '{"r":4}');
      writeFileSync(join(dir, "adapter_model.safetensors"), Buffer.from([1, 2, 3, 250]));
      await a.publishExpert("alpha", dir);
      expect(await b.storedExperts()).toContain("alpha");
      const copy = await b.expertDir("alpha", join(root, "no-such-experts-dir"));
      expect(copy.startsWith(b.localDir)).toBe(true);
      expect(readFileSync(join(copy, "adapter_config.json"), "utf8")).toBe('{"r":4}');
      expect([...readFileSync(join(copy, "adapter_model.safetensors"))]).toEqual([1, 2, 3, 250]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("shares the pilot library and tells the other process within its poll interval", async () => {
    const a = await openStore(url(), SPEC);
    const b = await openStore(url(), SPEC);
    let changes = 0;
    const stop = b.watch(async () => {
      changes++;
    });
    try {
      writeFileSync(join(a.localDir, "pilots.json"), '{"library":"v1"}');
      await a.pushPilots();
      const t0 = Date.now();
      while (changes === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 100));
      expect(changes).toBeGreaterThan(0);
      await b.pullPilots();
      expect(readFileSync(join(b.localDir, "pilots.json"), "utf8")).toBe('{"library":"v1"}');
    } finally {
      stop();
      await a.close();
      await b.close();
    }
  });

  it("HNSW search agrees with the exact scan on this small corpus", async () => {
    const exact = await openStore(url(), SPEC, { exactSearch: true });
    const hnsw = await openStore(url(), SPEC);
    try {
      const e = await exact.search(queries, 10);
      const h = await hnsw.search(queries, 10);
      let overlap = 0;
      for (let q = 0; q < 5; q++) overlap += h[q]!.filter((x) => e[q]!.some((y) => y.id === x.id)).length;
      expect(overlap / 50).toBeGreaterThanOrEqual(0.9);
    } finally {
      await exact.close();
      await hnsw.close();
    }
  });

  it("efSearch reaches the query: recall@1 rises from ef_search 1 to 1000, and k above it still gets k hits", async () => {
    const many = unitRows(400, 31337);
    const recallAt1 = async (opts: { exactSearch?: boolean; efSearch?: number }): Promise<string[]> => {
      const s = await openStore(url(), SPEC, opts);
      try {
        return (await s.search(many, 1)).map((h) => h[0]?.id ?? "(none)");
      } finally {
        await s.close();
      }
    };
    const exact = await recallAt1({ exactSearch: true });
    const agree = (got: string[]): number => got.filter((id, i) => id === exact[i]).length / exact.length;
    const low = agree(await recallAt1({ efSearch: 1 }));
    const high = agree(await recallAt1({ efSearch: 1000 }));
    console.log(`recall@1 vs exact over ${exact.length} queries: ef_search 1 ${low}, ef_search 1000 ${high}`);
    expect(high).toBeGreaterThan(low + 0.05);
    expect(high).toBeGreaterThanOrEqual(0.99);
    // pgvector's HNSW scan returns at most ef_search rows ...
    const c = new pgDriver.Client({ connectionString: url() });
    await c.connect();
    try {
      await c.query("BEGIN");
      for (const setting of ["SET LOCAL hnsw.ef_search = 3", "SET LOCAL enable_seqscan = off"]) await c.query(setting);
      const raw = await c.query(SEARCH_SQL, [vectorLiteral(queries, 0, DIMS), 10]);
      await c.query("ROLLBACK");
      expect(raw.rows.length).toBeLessThan(10);
    } finally {
      await c.end();
    }
    // ... so the store raises it to k for that search.
    const s = await openStore(url(), SPEC, { efSearch: 3 });
    try {
      expect((await s.search(queries, 10)).map((h) => h.length)).toEqual([10, 10, 10, 10, 10]);
    } finally {
      await s.close();
    }
  });

  it("refuses a bad efSearch, one with exactSearch, and one for a store folder, naming the option", async () => {
    for (const bad of [0, -5, 1.5, 1001, Number.NaN]) {
      const err = (await openStore(url(), SPEC, { efSearch: bad }).catch((e: unknown) => e)) as RouterRetrieverError;
      expect(err.code).toBe("BAD_INPUT");
      expect(err.message).toMatch(/^efSearch must be an integer from 1 to 1000/);
    }
    const both = (await openStore(url(), SPEC, { efSearch: 50, exactSearch: true }).catch((e: unknown) => e)) as RouterRetrieverError;
    expect(both.message).toContain("efSearch and exactSearch exclude each other");
    const flat = (await openStore(join(root, "flat-ef"), SPEC, { efSearch: 50 }).catch((e: unknown) => e)) as RouterRetrieverError;
    expect(flat.code).toBe("BAD_INPUT");
    expect(flat.message).toContain("is a store folder");
  });

  it("sends query vectors in binary and returns exactly the hits and scores the text form gives, exact and HNSW", async () => {
    const c = new pgDriver.Client({ connectionString: url() });
    await c.connect();
    try {
      for (const exactSearch of [true, false]) {
        const s = await openStore(url(), SPEC, { exactSearch });
        try {
          const got = await s.search(queries, 10);
          for (let q = 0; q < 5; q++) {
            // The statement as it ran before, with the vector as text ('[x,y,...]'), under the same settings.
            await c.query("BEGIN");
            for (const setting of searchSettings({ exactSearch })) await c.query(setting);
            const r = await c.query<{ id: string; score: number }>(SEARCH_SQL, [vectorLiteral(queries, q, DIMS), 10]);
            await c.query("ROLLBACK");
            expect(got[q]!.map((h) => [h.id, h.score])).toEqual(r.rows.map((x) => [x.id, Number(x.score)]));
          }
          if (exactSearch) {
            const stored = await s.vectorsOf(ids);
            for (let q = 0; q < 5; q++) expect(got[q]!.map((h) => h.id)).toEqual(bruteTopK(stored, ids, queries, q, 10));
          }
        } finally {
          await s.close();
        }
      }
    } finally {
      await c.end();
    }
  });

  it("approximate search plans the HNSW index scan, also where the planner would rather scan the table", async () => {
    const c = new pgDriver.Client({ connectionString: url() });
    await c.connect();
    try {
      await c.query("ANALYZE rr_documents");
      const plan = async (settings: string[]): Promise<string> => {
        await c.query("BEGIN");
        for (const setting of settings) await c.query(setting);
        const r = await c.query<{ "QUERY PLAN": string }>(`EXPLAIN ${SEARCH_SQL}`, [vectorLiteral(queries, 0, DIMS), 10]);
        await c.query("ROLLBACK");
        return r.rows.map((x) => x["QUERY PLAN"]).join("\n");
      };
      // At the default ef_search pgvector's cost estimate prefers a full scan of a small table
      // (on scifact's 5,183 rows too), which made "approximate" search as slow as the exact one ...
      expect(await plan([`SET LOCAL hnsw.ef_search = ${DEFAULT_EF_SEARCH}`])).not.toContain("rr_documents_hnsw");
      // ... so the store's settings rule the full scan out,
      expect(await plan(searchSettings({}))).toContain("Index Scan using rr_documents_hnsw");
      // and exact search never uses the index.
      expect(await plan(searchSettings({ exactSearch: true }))).not.toContain("rr_documents_hnsw");
    } finally {
      await c.end();
    }
  });

  it("never shows credentials in its location or its errors", async () => {
    const secretUrl = pg.url.replace("postgres@", "postgres:hunter2@");
    const s = await openStore(secretUrl, SPEC);
    try {
      expect(s.location).not.toContain("hunter2");
    } finally {
      await s.close();
    }
    expect(redactStoreLocation("postgres://u:pw@h:5432/db?password=pw2&sslmode=require")).toBe("postgres://h:5432/db?password=***&sslmode=require");
    const err = (await openStore("postgres://u:hunter2@127.0.0.1:1/db", SPEC).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(RouterRetrieverError);
    expect(err.message).not.toContain("hunter2");
    expect(err.message).toContain("127.0.0.1:1");
  });

  it("bulk indexing encodes only a corpus's new and edited documents, and overwrites the edited one's row", async () => {
    const { bulkIndex } = await import("./postgres/bulk.js");
    const edited = { ...docs[10]!, text: `${docs[10]!.text}, edited` };
    const corpus = [...docs.slice(0, 10), edited, ...docs.slice(11), { id: "bulk-new", title: "", text: "a document the store lacks" }];
    const encoded: string[] = [];
    const rows = unitRows(2, 4242);
    const r = await bulkIndex(url(), SPEC, corpus, {
      chunkSize: 64,
      pollMs: 50,
      // The vectors stand in for the encoder's (this test is about which documents reach it).
      encode: async (part) => {
        const out = new Float32Array(part.length * DIMS);
        part.forEach((d, i) => out.set(rows.subarray((d.id === edited.id ? 0 : 1) * DIMS, (d.id === edited.id ? 1 : 2) * DIMS), i * DIMS));
        encoded.push(...part.map((d) => d.id));
        return out;
      },
    });
    expect(encoded.sort()).toEqual(["bulk-new", edited.id]);
    expect(r.encodedHere).toBe(2);
    const s = await openStore(url(), SPEC, { exactSearch: true });
    try {
      expect(await s.count()).toBe(N + 1);
      expect(await s.get(edited.id)).toEqual(edited);
      expect(await s.unchanged(corpus)).toEqual(new Set(corpus.map((d) => d.id)));
      const got = await s.vectorsOf([edited.id, docs[9]!.id]);
      for (let i = 0; i < DIMS; i++) expect(got[i]).toBeCloseTo(rows[i]!, 6);
      for (let i = 0; i < DIMS; i++) expect(got[DIMS + i]).toBeCloseTo(vectors[9 * DIMS + i]!, 6);
    } finally {
      await s.close();
    }
  });

  it("appends more rows than one INSERT statement holds: all or none, vectors stored bit for bit", async () => {
    const n = INSERT_BATCH + 7;
    const big = Array.from({ length: n }, (_, i) => ({ id: `big-${i}`, title: "", text: `big ${i}` }));
    const rows = unitRows(n, 777);
    const s = await openStore(url(), SPEC, { exactSearch: true });
    try {
      const before = await s.count();
      // A stored id in the second statement fails the append, and the first statement's rows go too.
      const err = await s.append([...big, docs[0]!], new Float32Array([...rows, ...unitRows(1, 1)])).catch((e: unknown) => e);
      expect((err as RouterRetrieverError).code).toBe("CONFLICT");
      expect(await s.count()).toBe(before);
      await s.append(big, rows);
      expect(await s.count()).toBe(before + n);
      const probe = [0, INSERT_BATCH - 1, INSERT_BATCH, n - 1];
      expect(await s.vectorsOf(probe.map((i) => big[i]!.id))).toEqual(new Float32Array(probe.flatMap((i) => [...rows.subarray(i * DIMS, (i + 1) * DIMS)])));
    } finally {
      await s.close();
    }
  });

  it("looks the vector type's OID up once per store, not once per insert", async () => {
    const s = (await openStore(url(), SPEC, { exactSearch: true })) as PostgresStore;
    try {
      const extra = Array.from({ length: 6 }, (_, i) => ({ id: `oid-${i}`, title: "", text: `oid ${i}` }));
      const rows = unitRows(6, 606);
      expect(s.vectorOid.lookups).toBe(0);
      await s.append(extra.slice(0, 3), rows.subarray(0, 3 * DIMS));
      await s.append(extra.slice(3), rows.subarray(3 * DIMS));
      await s.replace(extra.slice(0, 1), rows.subarray(5 * DIMS));
      expect(s.vectorOid.lookups).toBe(1);
      expect(await s.vectorsOf(["oid-0", "oid-4"])).toEqual(new Float32Array([...rows.subarray(5 * DIMS), ...rows.subarray(4 * DIMS, 5 * DIMS)]));
    } finally {
      await s.close();
    }
  });
});

describe("postgres bulk load into an empty table: without the HNSW index, built once after the last chunk", () => {
  let db: PgliteServer;
  let c: pgDriver.Client;
  beforeAll(async () => {
    db = await startPgliteServer();
    c = new pgDriver.Client({ connectionString: db.url });
    await c.connect();
  }, 300_000);
  afterAll(async () => {
    await c?.end().catch(() => {});
    await db?.stop();
  });

  const n = 150;
  const corpus = Array.from({ length: n }, (_, i) => ({ id: `e-${String(i).padStart(3, "0")}`, title: "", text: `empty-table load ${i}` }));
  const rowsOf = unitRows(n, 5151);
  const rowIndex = new Map(corpus.map((d, i) => [d.id, i]));
  // Stand-in vectors for the encoder's (this test is about the load, not the model).
  const encodeRows = (part: readonly { id: string }[]): Float32Array => {
    const out = new Float32Array(part.length * DIMS);
    part.forEach((d, i) => out.set(rowsOf.subarray(rowIndex.get(d.id)! * DIMS, (rowIndex.get(d.id)! + 1) * DIMS), i * DIMS));
    return out;
  };
  const indexState = async (): Promise<{ index: string | null; deferredBy: string | null }> =>
    (await c.query<{ index: string | null; deferredBy: string | null }>(`SELECT to_regclass('rr_documents_hnsw')::text AS index, (SELECT value FROM rr_meta WHERE key = 'hnswIndexDeferredBy') AS "deferredBy"`)).rows[0]!;

  it("an interrupted load leaves the index unbuilt, searches still answer exactly, opening does not re-create it; running the load again builds it", async () => {
    const { bulkIndex, bulkJobId } = await import("./postgres/bulk.js");
    const part = corpus.slice(0, 100);
    let calls = 0;
    const died = (await bulkIndex(db.url, SPEC, part, {
      chunkSize: 16,
      leaseSeconds: 1,
      pollMs: 50,
      encode: async (docsPart) => {
        if (++calls === 3) throw new Error("worker died");
        return encodeRows(docsPart);
      },
    }).catch((e: unknown) => e)) as Error;
    expect(died.message).toContain("worker died");
    expect(await indexState()).toEqual({ index: null, deferredBy: bulkJobId(SPEC, part) });

    const warnings: string[] = [];
    const approx = await openStore(db.url, SPEC, { onWarning: (m) => warnings.push(m) });
    const exact = await openStore(db.url, SPEC, { exactSearch: true });
    try {
      expect(warnings.join("\n")).toContain("the HNSW index is not built yet");
      expect(await approx.count()).toBe(32);
      expect(await approx.search(queries, 5)).toEqual(await exact.search(queries, 5));
    } finally {
      await approx.close();
      await exact.close();
    }
    expect((await indexState()).index).toBeNull();

    let built: number | undefined;
    const r = await bulkIndex(db.url, SPEC, part, { chunkSize: 16, leaseSeconds: 1, pollMs: 50, encode: async (p) => encodeRows(p), onIndexBuild: (docsIn) => (built = docsIn) });
    expect(r.indexDeferred).toBe(false);
    expect(built).toBe(100);
    expect(r.indexBuild?.documents).toBe(100);
    expect(r.takenOver).toBe(1);
    expect(await indexState()).toEqual({ index: "rr_documents_hnsw", deferredBy: null });
  });

  it("two workers load an emptied table without the index and one of them builds it once; a table with documents keeps its index", async () => {
    const { bulkIndex, bulkJobId } = await import("./postgres/bulk.js");
    await c.query("DELETE FROM rr_documents");
    const during: { index: string | null; deferredBy: string | null }[] = [];
    let calls = 0;
    const encode = async (p: readonly { id: string }[]): Promise<Float32Array> => {
      if (++calls === 4) during.push(await indexState());
      await new Promise((res) => setTimeout(res, 30));
      return encodeRows(p);
    };
    const opts = { chunkSize: 10, leaseSeconds: 30, pollMs: 50, encode };
    const [a, b] = await Promise.all([bulkIndex(db.url, SPEC, corpus, { ...opts, workerId: "a" }), bulkIndex(db.url, SPEC, corpus, { ...opts, workerId: "b" })]);
    expect(during).toEqual([{ index: null, deferredBy: bulkJobId(SPEC, corpus) }]);
    expect(a.chunksHere + b.chunksHere).toBe(15);
    expect(a.chunksHere).toBeGreaterThan(0);
    expect(b.chunksHere).toBeGreaterThan(0);
    expect([a.indexDeferred, b.indexDeferred].filter(Boolean)).toHaveLength(1);
    expect([a.indexBuild, b.indexBuild].filter((x) => x !== undefined).map((x) => x!.documents)).toEqual([n]);
    expect(await indexState()).toEqual({ index: "rr_documents_hnsw", deferredBy: null });
    const approx = await openStore(db.url, SPEC);
    const exact = await openStore(db.url, SPEC, { exactSearch: true });
    try {
      expect(await approx.count()).toBe(n);
      const h = await approx.search(queries, 10);
      const e = await exact.search(queries, 10);
      let overlap = 0;
      for (let q = 0; q < 5; q++) overlap += h[q]!.filter((x) => e[q]!.some((y) => y.id === x.id)).length;
      expect(overlap / 50).toBeGreaterThanOrEqual(0.9);
    } finally {
      await approx.close();
      await exact.close();
    }

    // More documents into the table that now holds some: the index stays and takes them in.
    const more = [...corpus, { id: "e-more", title: "", text: "one more" }];
    const seen: { index: string | null; deferredBy: string | null }[] = [];
    const r = await bulkIndex(db.url, SPEC, more, {
      chunkSize: 50,
      pollMs: 50,
      encode: async (p) => {
        seen.push(await indexState());
        return new Float32Array(unitRows(p.length, 6));
      },
    });
    expect(seen).toEqual([{ index: "rr_documents_hnsw", deferredBy: null }]);
    expect(r.indexDeferred).toBe(false);
    expect(r.indexBuild).toBeUndefined();
  });
});
