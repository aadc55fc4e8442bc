/**
 * Store benchmark: the flat folder store vs PostgreSQL + pgvector (exact scan and HNSW), on a
 * real PostgreSQL engine: PGlite over its wire-protocol server, in a child process as a server
 * would be (test/support/pglite-server.ts), reached through the `pg` driver.
 *
 *   tsx bench/store.ts --scifact [--queries 300]
 *   tsx bench/store.ts --synthetic 20000 [--queries 50] [--exact-queries 10]
 *   tsx bench/store.ts --workers [--worker-docs 768]
 *
 *   --scifact        scifact's real corpus (5,183 docs; base-model vectors from the corpus cache)
 *                    and its 300 test queries: queries/s of flat, pg exact and pg HNSW at several
 *                    hnsw.ef_search values; HNSW recall@10 against the exact flat store; nDCG@10 of each
 *                    against the qrels; whether the planner uses the index (EXPLAIN)
 *   --synthetic <n>  n synthetic unit vectors (384 dims, each a random mix of two scifact document
 *                    vectors plus noise, so neighbourhoods look like real embeddings' rather than
 *                    uniform noise's); queries are scifact's. Rows are bulk-loaded first and the
 *                    HNSW index built afterwards
 *   --workers        bulk indexing docs/s into PostgreSQL with 1 and with 2 worker processes
 *                    (`routerretriever index --store postgres://... --workers n`, real encoding)
 *
 * Queries are timed interleaved (query i on every store in turn, the order rotating), so that a
 * load change on the shared machine hits all stores alike. Prints one markdown table per part and writes bench/results/store-<part>.json with every
 * figure, the command and the load average. Numbers on a shared 2-core machine are indicative;
 * ratios within one run are what to compare.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { loadBeirDataset, documentText, type BeirDataset } from "../src/data/beir.js";
import { evaluateRun, type ScoredDoc } from "../src/evaluation/metrics.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { openFlatStore } from "../src/store/flat/index.js";
import { DEFAULT_EF_SEARCH, openPostgresStore, SEARCH_SQL, searchSettings } from "../src/store/postgres/index.js";
import { vectorLiteral } from "../src/store/postgres/connect.js";
import type { Store, StoreSpec, StoredHit } from "../src/store/types.js";
import { corpusVectors } from "../src/vectors/encode-corpus.js";
import { projectRoot } from "../src/util/paths.js";
import { rng } from "../src/util/random.js";
import { startPgliteServer } from "../test/support/pglite-server.js";

const args = process.argv.slice(2);
const has = (f: string): boolean => args.includes(f);
const num = (f: string, d: number): number => (args.includes(f) ? Number(args[args.indexOf(f) + 1]) : d);
const SCIFACT = join(projectRoot, "..", "shared", "datasets", "scifact");
const RESULTS = join(projectRoot, "bench", "results");
const K = 10;
/** hnsw.ef_search values measured besides the store's default. */
const EF_SWEEP = [40, 64, DEFAULT_EF_SEARCH, 200];

function table(header: string[], rows: (string | number)[][]): void {
  console.log(`| ${header.join(" | ")} |\n| ${header.map(() => "---").join(" | ")} |`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log("");
}

function writeResult(part: string, figures: Record<string, unknown>): void {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `store-${part}.json`);
  const out = { bench: "store", part, date: new Date().toISOString(), command: `npx tsx bench/store.ts ${args.join(" ")}`, loadAverage1m: loadavg()[0], cpus: 2, note: "shared 2-core machine: compare ratios within this run", ...figures };
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  console.error(`wrote ${file}`);
}

interface Timed {
  qps: number;
  p50: number;
  p95: number;
  hits: StoredHit[][];
}

/**
 * One query per call (a service answering single requests), sequentially, interleaved over the
 * stores: query i runs on every store before query i+1, starting with a different store each time.
 * Returns queries/s and p50/p95 ms per store; `limits` caps the queries a slow store runs.
 */
async function timeQueries(stores: readonly Store[], qv: Float32Array, dims: number, n: number, limits: readonly number[] = []): Promise<Timed[]> {
  const lat = stores.map(() => [] as number[]);
  const hits = stores.map(() => [] as StoredHit[][]);
  for (const s of stores) await s.search(qv.subarray(0, dims), K); // warm-up
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < stores.length; j++) {
      const si = (i + j) % stores.length;
      if (i >= (limits[si] ?? n)) continue;
      const t = performance.now();
      hits[si]!.push((await stores[si]!.search(qv.subarray(i * dims, (i + 1) * dims), K))[0]!);
      lat[si]!.push(performance.now() - t);
    }
  }
  return stores.map((_, si) => {
    const l = lat[si]!;
    const total = l.reduce((x, y) => x + y, 0) / 1000;
    const sorted = [...l].sort((x, y) => x - y);
    return { qps: l.length / total, p50: sorted[Math.floor(l.length * 0.5)]!, p95: sorted[Math.min(l.length - 1, Math.floor(l.length * 0.95))]!, hits: hits[si]! };
  });
}

function recallAt(exact: StoredHit[][], approx: StoredHit[][]): number {
  let found = 0;
  let total = 0;
  exact.forEach((e, i) => {
    const got = new Set(approx[i]!.map((h) => h.id));
    found += e.filter((h) => got.has(h.id)).length;
    total += e.length;
  });
  return found / total;
}

const round = (x: number, d = 4): number => Number(x.toFixed(d));

interface Loaded {
  loadSeconds: number;
  indexSeconds: number;
  /** Server notices during load and build (pgvector says when the graph outgrew maintenance_work_mem). */
  notices: string[];
}

/** maintenance_work_mem for the HNSW build: pgvector builds in memory while the graph fits, and far slower on disk once it does not. */
const BUILD_MEM = "1GB";

/**
 * Bulk-loads rows without the HNSW index through the store's own append (binary vectors,
 * insertDocuments), then builds the index (how a large corpus goes into a fresh database).
 */
async function loadPostgres(url: string, spec: StoreSpec, ids: readonly string[], titles: readonly string[], texts: readonly string[], vectors: Float32Array): Promise<Loaded> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const notices: string[] = [];
  client.on("notice", (n) => notices.push(n.message ?? String(n)));
  try {
    // Opened first: opening creates the schema, the HNSW index included, which the load must not maintain row by row.
    const store = await openPostgresStore(url, spec);
    await client.query("DROP INDEX IF EXISTS rr_documents_hnsw");
    const t0 = performance.now();
    try {
      const batch = 10_000; // one transaction per append
      for (let i = 0; i < ids.length; i += batch) {
        const n = Math.min(batch, ids.length - i);
        await store.append(
          ids.slice(i, i + n).map((id, j) => ({ id, title: titles[i + j]!, text: texts[i + j]! })),
          vectors.subarray(i * spec.dims, (i + n) * spec.dims),
        );
        if ((i + n) % 50_000 === 0 || i + n === ids.length) console.error(`  ${i + n} rows, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    } finally {
      await store.close();
    }
    await client.query("ANALYZE rr_documents");
    const loadSeconds = (performance.now() - t0) / 1000;
    console.error(`  loaded ${ids.length} rows in ${loadSeconds.toFixed(1)} s; building the HNSW index (maintenance_work_mem ${BUILD_MEM}) ...`);
    const tIndex = performance.now();
    await client.query(`SET maintenance_work_mem = '${BUILD_MEM}'`);
    await client.query("CREATE INDEX rr_documents_hnsw ON rr_documents USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)");
    await client.query("RESET maintenance_work_mem");
    const indexSeconds = (performance.now() - tIndex) / 1000;
    console.error(`  HNSW index built in ${indexSeconds.toFixed(1)} s${notices.length ? `; notices: ${notices.join(" | ")}` : ""}`);
    return { loadSeconds, indexSeconds, notices };
  } finally {
    await client.end();
  }
}

/** Whether the store's own query, under the store's own settings for this ef_search, plans an HNSW index scan. */
async function usesIndex(url: string, qv: Float32Array, dims: number, efSearch: number): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("BEGIN");
    for (const setting of searchSettings({ efSearch })) await c.query(setting);
    const r = await c.query<{ "QUERY PLAN": string }>(`EXPLAIN ${SEARCH_SQL}`, [vectorLiteral(qv, 0, dims), K]);
    await c.query("ROLLBACK");
    return r.rows.some((x) => x["QUERY PLAN"].includes("Index Scan using rr_documents_hnsw"));
  } finally {
    await c.end();
  }
}

interface Compared {
  flat: Timed;
  exact: Timed;
  /** By ef_search. */
  hnsw: Map<number, Timed>;
  figures: Record<string, unknown>;
}

async function compare(label: string, spec: StoreSpec, ids: string[], titles: string[], texts: string[], vectors: Float32Array, qv: Float32Array, nq: number, exactQueries: number): Promise<Compared> {
  const dir = mkdtempSync(join(tmpdir(), "rr-bench-store-"));
  const db = await startPgliteServer();
  const stores: Store[] = [];
  try {
    console.error(`${label}: flat store ...`);
    const flat = await openFlatStore(join(dir, "flat"), spec);
    stores.push(flat);
    for (let i = 0; i < ids.length; i += 4096) {
      const n = Math.min(4096, ids.length - i);
      await flat.append(ids.slice(i, i + n).map((id, j) => ({ id, title: titles[i + j]!, text: texts[i + j]! })), vectors.subarray(i * spec.dims, (i + n) * spec.dims));
    }
    console.error(`${label}: PostgreSQL ...`);
    await (await openPostgresStore(db.url, spec)).close();
    const loaded = await loadPostgres(db.url, spec, ids, titles, texts, vectors);
    const planUsesIndex: Record<string, boolean> = {};
    for (const ef of EF_SWEEP) planUsesIndex[`efSearch${ef}`] = await usesIndex(db.url, qv, spec.dims, ef);
    stores.push(await openPostgresStore(db.url, spec, { exactSearch: true }));
    for (const ef of EF_SWEEP) stores.push(await openPostgresStore(db.url, spec, { efSearch: ef }));
    console.error(`${label}: ${nq} queries on ${stores.length} stores, interleaved ...`);
    const [f, e, ...hs] = await timeQueries(stores, qv, spec.dims, nq, [nq, exactQueries]);
    const hnsw = new Map(EF_SWEEP.map((ef, i) => [ef, hs[i]!]));
    const exactN = e!.hits.length;
    const rows: (string | number)[][] = [
      ["flat (exact, in memory)", nq, f!.qps.toFixed(1), f!.p50.toFixed(2), f!.p95.toFixed(2), "1 (reference)"],
      ["pgvector exact scan", exactN, e!.qps.toFixed(1), e!.p50.toFixed(2), e!.p95.toFixed(2), recallAt(f!.hits.slice(0, exactN), e!.hits).toFixed(4)],
    ];
    for (const [ef, h] of hnsw) rows.push([`pgvector HNSW ef_search=${ef}${ef === DEFAULT_EF_SEARCH ? " (default)" : ""}`, nq, h.qps.toFixed(1), h.p50.toFixed(2), h.p95.toFixed(2), recallAt(f!.hits, h.hits).toFixed(4)]);
    console.log(`\n### ${label}: ${ids.length} documents, k=${K}, one query per call, interleaved\n`);
    console.log(`bulk load ${loaded.loadSeconds.toFixed(1)} s; HNSW build (m=16, ef_construction=64, after the load) ${loaded.indexSeconds.toFixed(1)} s; HNSW index scan planned: ${JSON.stringify(planUsesIndex)}\n`);
    table(["store", "queries", "queries/s", "p50 ms", "p95 ms", "recall@10 vs exact (flat)"], rows);
    const timed = (t: Timed, recall?: number): Record<string, number> => ({ queries: t.hits.length, qps: round(t.qps, 2), p50ms: round(t.p50, 3), p95ms: round(t.p95, 3), ...(recall === undefined ? {} : { recallAt10VsExact: round(recall) }) });
    const figures: Record<string, unknown> = {
      documents: ids.length,
      k: K,
      bulkLoadSeconds: round(loaded.loadSeconds, 1),
      hnswBuildSeconds: round(loaded.indexSeconds, 1),
      hnswParams: { m: 16, efConstruction: 64, maintenanceWorkMem: BUILD_MEM },
      buildNotices: loaded.notices,
      planUsesIndex,
      flat: timed(f!),
      pgExact: timed(e!, recallAt(f!.hits.slice(0, exactN), e!.hits)),
      pgHnsw: Object.fromEntries([...hnsw].map(([ef, h]) => [`efSearch${ef}`, { ...timed(h, recallAt(f!.hits, h.hits)), default: ef === DEFAULT_EF_SEARCH }])),
    };
    return { flat: f!, exact: e!, hnsw, figures };
  } finally {
    await Promise.all(stores.map((st) => st.close()));
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** scifact's corpus vectors (the corpus cache) and test-query vectors, base model. */
async function scifactVectors(): Promise<{ ds: BeirDataset; spec: StoreSpec; ids: string[]; vectors: Float32Array; qv: Float32Array }> {
  const ds = await loadBeirDataset(SCIFACT, "test");
  const model = loadModel(defaultModelSpec());
  const enc = await Encoder.create(model, { threads: 1 });
  try {
    const spec: StoreSpec = { modelId: model.spec.id, dims: enc.dims, pooling: model.spec.pooling, normalized: model.spec.normalize };
    const corpus = await corpusVectors(enc, ds.corpus.map((d) => ({ id: d.id, text: documentText(d) })), { onProgress: (p) => console.error(`  corpus vectors ${p.done}/${p.total}`) });
    const qv = await enc.encode(ds.queries.map((q) => q.text));
    return { ds, spec, ids: [...corpus.index.ids], vectors: corpus.index.vectors, qv };
  } finally {
    await enc.close();
  }
}

async function scifact(): Promise<void> {
  const { ds, spec, ids, vectors, qv } = await scifactVectors();
  const byId = new Map(ds.corpus.map((d) => [d.id, d]));
  const nq = Math.min(num("--queries", ds.queries.length), ds.queries.length);
  const r = await compare("scifact", spec, ids, ids.map((id) => byId.get(id)!.title), ids.map((id) => byId.get(id)!.text), vectors, qv, nq, nq);
  const ndcg = (hits: StoredHit[][]): number => {
    const run = new Map<string, ScoredDoc[]>(ds.queries.slice(0, hits.length).map((q, i) => [q.id, hits[i]!.map((h) => ({ id: h.id, score: h.score }))]));
    return evaluateRun(ds.qrels, run, { ks: [K], ignoreIdenticalIds: false, missingRunQueries: "skip" }).mean[`ndcg@${K}`]!;
  };
  const n: [string, number][] = [["flat", ndcg(r.flat.hits)], ["pgvector exact", ndcg(r.exact.hits)], ...[...r.hnsw].map(([ef, h]): [string, number] => [`pgvector HNSW ef_search=${ef}`, ndcg(h.hits)])];
  console.log(`### scifact nDCG@10 (base model, ${nq} test queries, run depth ${K}; x100)\n`);
  table(["store", "nDCG@10", "minus flat"], n.map(([name, v]) => [name, (100 * v).toFixed(2), (100 * (v - n[0]![1])).toFixed(2)]));
  writeResult("scifact", { ...r.figures, ndcg10x100: Object.fromEntries(n.map(([name, v]) => [name, round(100 * v, 2)])) });
}

/** n unit vectors, each a random mix of two real document vectors plus Gaussian noise. */
function syntheticVectors(base: Float32Array, dims: number, n: number): Float32Array {
  const rand = rng(12345);
  const rows = base.length / dims;
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const noise = 0.5 / Math.sqrt(dims); // noise vector of norm ~0.5 against unit-norm documents
  const out = new Float32Array(n * dims);
  for (let i = 0; i < n; i++) {
    const a = Math.floor(rand() * rows);
    const b = Math.floor(rand() * rows);
    const w = 0.5 + 0.5 * rand();
    let norm = 0;
    for (let t = 0; t < dims; t++) {
      const x = w * base[a * dims + t]! + (1 - w) * base[b * dims + t]! + noise * gauss();
      out[i * dims + t] = x;
      norm += x * x;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let t = 0; t < dims; t++) out[i * dims + t]! *= inv;
  }
  return out;
}

async function synthetic(n: number): Promise<void> {
  const { spec, vectors: base, qv } = await scifactVectors();
  const vectors = syntheticVectors(base, spec.dims, n);
  const ids = Array.from({ length: n }, (_, i) => `s${i}`);
  const nq = num("--queries", 50);
  const r = await compare(`synthetic-${n}`, spec, ids, ids.map(() => ""), ids.map((id) => `synthetic document ${id}`), vectors, qv, nq, Math.min(nq, num("--exact-queries", 10)));
  writeResult(`synthetic-${n}`, { ...r.figures, vectors: "each a random mix (weights w, 1-w, w in [0.5, 1]) of two scifact base vectors plus Gaussian noise of norm ~0.5, normalised; queries: scifact test queries" });
}

async function workers(): Promise<void> {
  const ds = await loadBeirDataset(SCIFACT, "test");
  const docs = ds.corpus.slice(0, num("--worker-docs", 768));
  const dir = mkdtempSync(join(tmpdir(), "rr-bench-workers-"));
  const file = join(dir, "docs.jsonl");
  writeFileSync(file, docs.map((d) => JSON.stringify({ id: d.id, title: d.title, text: d.text })).join("\n") + "\n");
  const rows: (string | number)[][] = [];
  const out: Record<string, unknown> = {};
  try {
    for (const w of [1, 2]) {
      const db = await startPgliteServer();
      try {
        const t0 = performance.now();
        const code = await new Promise<number | null>((resolve) => {
          const c = spawn(process.execPath, [join(projectRoot, "bin", "routerretriever.js"), "index", file, "--store", db.url, "--workers", String(w), "--threads", "1", "--chunk", "64", "--quiet"], { stdio: "inherit" });
          c.once("exit", resolve);
        });
        if (code !== 0) throw new Error(`index with ${w} workers exited with ${code}`);
        const secs = (performance.now() - t0) / 1000;
        const stored = new pg.Client({ connectionString: db.url });
        await stored.connect();
        const count = Number((await stored.query<{ n: string }>("SELECT count(*) AS n FROM rr_documents")).rows[0]!.n);
        await stored.end();
        if (count !== docs.length) throw new Error(`index with ${w} workers stored ${count} of ${docs.length} documents`);
        rows.push([w, docs.length, secs.toFixed(1), (docs.length / secs).toFixed(1)]);
        out[`workers${w}`] = { documents: docs.length, seconds: round(secs, 1), docsPerSecond: round(docs.length / secs, 2) };
      } finally {
        await db.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`### bulk indexing into PostgreSQL (scifact docs, MiniLM fp32, --threads 1 per worker, --chunk 64, process start included)\n`);
  table(["workers", "documents", "seconds", "docs/s"], rows);
  writeResult("workers", { ...out, setup: "routerretriever index --workers n --threads 1 --chunk 64 into PGlite (engine in a child process); the 2 cores are shared with other work" });
}

if (has("--scifact")) await scifact();
if (has("--synthetic")) await synthetic(num("--synthetic", 20000));
if (has("--workers")) await workers();
if (!has("--scifact") && !has("--synthetic") && !has("--workers")) console.error("nothing to do: pass --scifact, --synthetic <n> and/or --workers");
