/**
 * Store benchmark: the flat folder store vs PostgreSQL + pgvector (exact scan and HNSW), on a
 * real PostgreSQL engine (PGlite over its wire-protocol server, through the `pg` driver).
 *
 *   tsx bench/store.ts [--scifact] [--synthetic 200000] [--workers] [--queries 300]
 *
 *   --scifact        scifact's real corpus (5,183 docs; base-model vectors from the corpus cache)
 *                    and its 300 test queries: queries/s of flat, pg exact and pg HNSW; HNSW
 *                    recall@10 against the exact scan; nDCG@10 of each against the qrels
 *   --synthetic <n>  n random unit vectors (384 dims): queries/s of flat vs pg exact vs HNSW
 *   --workers        bulk indexing docs/s into PostgreSQL with 1 and with 2 worker processes
 *                    (`routerretriever index --store postgres://... --workers n`, real encoding)
 *
 * Prints one markdown table per part and a JSON line with every figure. Numbers on a shared
 * 2-core machine are indicative; ratios within one run are what to compare.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { loadBeirDataset, documentText } from "../src/data/beir.js";
import { evaluateRun, type ScoredDoc } from "../src/evaluation/metrics.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { openFlatStore } from "../src/store/flat/index.js";
import { openPostgresStore } from "../src/store/postgres/index.js";
import { vectorLiteral } from "../src/store/postgres/connect.js";
import type { Store, StoreSpec, StoredHit } from "../src/store/types.js";
import { corpusVectors } from "../src/vectors/encode-corpus.js";
import { projectRoot } from "../src/util/paths.js";
import { startPgliteServer } from "../test/support/pglite-server.js";

const args = process.argv.slice(2);
const has = (f: string): boolean => args.includes(f);
const num = (f: string, d: number): number => (args.includes(f) ? Number(args[args.indexOf(f) + 1]) : d);
const SCIFACT = join(projectRoot, "..", "shared", "datasets", "scifact");
const K = 10;
const all: Record<string, unknown> = {};

function table(header: string[], rows: (string | number)[][]): void {
  console.log(`| ${header.join(" | ")} |\n| ${header.map(() => "---").join(" | ")} |`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log("");
}

/** One query at a time (a service answering single requests), sequentially: queries/s and p50/p95 ms. */
async function timeQueries(store: Store, qv: Float32Array, dims: number, n: number): Promise<{ qps: number; p50: number; p95: number; hits: StoredHit[][] }> {
  const lat: number[] = [];
  const hits: StoredHit[][] = [];
  await store.search(qv.subarray(0, dims), K); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    hits.push((await store.search(qv.subarray(i * dims, (i + 1) * dims), K))[0]!);
    lat.push(performance.now() - t);
  }
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { qps: n / secs, p50: lat[Math.floor(n * 0.5)]!, p95: lat[Math.min(n - 1, Math.floor(n * 0.95))]!, hits };
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

/** Loads rows into the store's documents table in large batches (what `index` does per chunk). */
async function loadPostgres(url: string, spec: StoreSpec, ids: readonly string[], titles: readonly string[], texts: readonly string[], vectors: Float32Array, onProgress: (done: number) => void): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t0 = performance.now();
  try {
    // Bulk load first, index after: how a large corpus is loaded into a fresh database.
    await client.query("DROP INDEX IF EXISTS rr_documents_hnsw");
    const batch = 2000;
    for (let i = 0; i < ids.length; i += batch) {
      const n = Math.min(batch, ids.length - i);
      const vecs = Array.from({ length: n }, (_, j) => vectorLiteral(vectors, i + j, spec.dims));
      await client.query(
        "INSERT INTO rr_documents (id, title, body, embedding) SELECT id, title, body, v::vector FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, title, body, v)",
        [ids.slice(i, i + n), titles.slice(i, i + n), texts.slice(i, i + n), vecs],
      );
      onProgress(i + n);
    }
    const tIndex = performance.now();
    await client.query("SET maintenance_work_mem = '512MB'");
    await client.query("CREATE INDEX rr_documents_hnsw ON rr_documents USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)");
    console.error(`  loaded ${ids.length} rows in ${((tIndex - t0) / 1000).toFixed(1)} s, HNSW index built in ${((performance.now() - tIndex) / 1000).toFixed(1)} s`);
  } finally {
    await client.end();
  }
  return (performance.now() - t0) / 1000;
}

async function compare(label: string, spec: StoreSpec, ids: string[], titles: string[], texts: string[], vectors: Float32Array, qv: Float32Array, nq: number): Promise<{ flat: StoredHit[][]; exact: StoredHit[][]; hnsw: StoredHit[][] }> {
  const dir = mkdtempSync(join(tmpdir(), "rr-bench-store-"));
  const db = await startPgliteServer();
  try {
    console.error(`${label}: flat store ...`);
    const flat = await openFlatStore(join(dir, "flat"), spec);
    for (let i = 0; i < ids.length; i += 4096) {
      const n = Math.min(4096, ids.length - i);
      await flat.append(ids.slice(i, i + n).map((id, j) => ({ id, title: titles[i + j]!, text: texts[i + j]! })), vectors.subarray(i * spec.dims, (i + n) * spec.dims));
    }
    console.error(`${label}: PostgreSQL ...`);
    await (await openPostgresStore(db.url, spec)).close();
    const loadSecs = await loadPostgres(db.url, spec, ids, titles, texts, vectors, (d) => {
      if (d % 20000 === 0) console.error(`  ${d} rows`);
    });
    const exact = await openPostgresStore(db.url, spec, { exactSearch: true });
    const hnsw = await openPostgresStore(db.url, spec);
    const hnsw40 = await openPostgresStore(db.url, spec, { efSearch: 40 });
    try {
      const f = await timeQueries(flat, qv, spec.dims, nq);
      const e = await timeQueries(exact, qv, spec.dims, nq);
      const h = await timeQueries(hnsw, qv, spec.dims, nq);
      const h40 = await timeQueries(hnsw40, qv, spec.dims, nq);
      const rows = [
        ["flat (exact, in memory)", f.qps.toFixed(1), f.p50.toFixed(2), f.p95.toFixed(2), recallAt(f.hits, f.hits).toFixed(4)],
        ["pgvector exact scan", e.qps.toFixed(1), e.p50.toFixed(2), e.p95.toFixed(2), recallAt(f.hits, e.hits).toFixed(4)],
        ["pgvector HNSW ef_search=100 (default)", h.qps.toFixed(1), h.p50.toFixed(2), h.p95.toFixed(2), recallAt(e.hits, h.hits).toFixed(4)],
        ["pgvector HNSW ef_search=40", h40.qps.toFixed(1), h40.p50.toFixed(2), h40.p95.toFixed(2), recallAt(e.hits, h40.hits).toFixed(4)],
      ];
      console.log(`\n### ${label}: ${ids.length} documents, ${nq} queries, k=${K}, one query per call\n`);
      table(["store", "queries/s", "p50 ms", "p95 ms", "recall@10 vs exact"], rows);
      all[label] = { documents: ids.length, queries: nq, loadSeconds: loadSecs, flat: { qps: f.qps, p50: f.p50 }, pgExact: { qps: e.qps, p50: e.p50, recallVsFlat: recallAt(f.hits, e.hits) }, pgHnsw: { qps: h.qps, p50: h.p50, recall: recallAt(e.hits, h.hits) }, pgHnsw40: { qps: h40.qps, recall: recallAt(e.hits, h40.hits) } };
      return { flat: f.hits, exact: e.hits, hnsw: h.hits };
    } finally {
      await Promise.all([exact.close(), hnsw.close(), hnsw40.close(), flat.close()]);
    }
  } finally {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function scifact(): Promise<void> {
  const ds = await loadBeirDataset(SCIFACT, "test");
  const model = loadModel(defaultModelSpec());
  const enc = await Encoder.create(model, { threads: 1 });
  const spec: StoreSpec = { modelId: model.spec.id, dims: enc.dims, pooling: model.spec.pooling, normalized: model.spec.normalize };
  const corpus = await corpusVectors(enc, ds.corpus.map((d) => ({ id: d.id, text: documentText(d) })), { onProgress: (p) => console.error(`  corpus vectors ${p.done}/${p.total}`) });
  const qv = await enc.encode(ds.queries.map((q) => q.text));
  await enc.close();
  const byId = new Map(ds.corpus.map((d) => [d.id, d]));
  const ids = [...corpus.index.ids];
  const r = await compare("scifact", spec, ids, ids.map((id) => byId.get(id)!.title), ids.map((id) => byId.get(id)!.text), corpus.index.vectors, qv, ds.queries.length);
  const ndcg = (hits: StoredHit[][]): number => {
    const run = new Map<string, ScoredDoc[]>(ds.queries.map((q, i) => [q.id, hits[i]!.map((h) => ({ id: h.id, score: h.score }))]));
    return evaluateRun(ds.qrels, run, { ks: [10], ignoreIdenticalIds: false }).mean["ndcg_cut_10"]!;
  };
  const n = { flat: ndcg(r.flat), exact: ndcg(r.exact), hnsw: ndcg(r.hnsw) };
  console.log(`### scifact nDCG@10 (base model, test queries, run depth 10)\n`);
  table(["store", "nDCG@10"], [["flat", (100 * n.flat).toFixed(2)], ["pgvector exact", (100 * n.exact).toFixed(2)], ["pgvector HNSW", (100 * n.hnsw).toFixed(2)]]);
  (all["scifact"] as Record<string, unknown>)["ndcg10"] = n;
}

async function synthetic(n: number): Promise<void> {
  const dims = 384;
  const spec: StoreSpec = { modelId: "synthetic", dims, pooling: "mean", normalized: true };
  let s = 12345;
  const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const unit = (rows: number): Float32Array => {
    const v = new Float32Array(rows * dims);
    for (let i = 0; i < rows; i++) {
      let norm = 0;
      for (let t = 0; t < dims; t++) norm += (v[i * dims + t] = rnd()) ** 2;
      for (let t = 0; t < dims; t++) v[i * dims + t]! /= Math.sqrt(norm);
    }
    return v;
  };
  const vectors = unit(n);
  const qv = unit(200);
  const ids = Array.from({ length: n }, (_, i) => `s${i}`);
  await compare(`synthetic-${n}`, spec, ids, ids.map(() => ""), ids.map((id) => `synthetic document ${id}`), vectors, qv, 200);
}

async function workers(): Promise<void> {
  const ds = await loadBeirDataset(SCIFACT, "test");
  const docs = ds.corpus.slice(0, num("--worker-docs", 768));
  const dir = mkdtempSync(join(tmpdir(), "rr-bench-workers-"));
  const file = join(dir, "docs.jsonl");
  writeFileSync(file, docs.map((d) => JSON.stringify({ id: d.id, title: d.title, text: d.text })).join("\n") + "\n");
  const rows: (string | number)[][] = [];
  const out: Record<string, number> = {};
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
        rows.push([w, docs.length, secs.toFixed(1), (docs.length / secs).toFixed(1)]);
        out[`workers${w}`] = docs.length / secs;
      } finally {
        await db.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`### bulk indexing into PostgreSQL (scifact docs, MiniLM fp32, --threads 1 per worker, process start included)\n`);
  table(["workers", "documents", "seconds", "docs/s"], rows);
  all["bulkIndexing"] = out;
}

if (has("--scifact")) await scifact();
if (has("--synthetic")) await synthetic(num("--synthetic", 200000));
if (has("--workers")) await workers();
if (!has("--scifact") && !has("--synthetic") && !has("--workers")) console.error("nothing to do: pass --scifact, --synthetic <n> and/or --workers");
console.log(JSON.stringify({ bench: "store", ...all }));
