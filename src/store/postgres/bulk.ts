/**
 * Bulk indexing into PostgreSQL from any number of worker processes on any number of machines.
 *
 * A job is one corpus for one model (its id hashes both), cut into chunks recorded in
 * rr_index_chunks by whichever worker gets there first. Each worker then loops:
 *   1. claim: in a short transaction, `SELECT ... FOR UPDATE SKIP LOCKED` the first chunk that
 *      is todo or whose lease ran out, and mark it running under its name with a lease;
 *   2. encode the chunk's documents that are not already stored with the same title and text (no transaction open: encoding takes seconds, and a long
 *      transaction would hold back vacuum on a real server and block every other connection on
 *      PGlite's single-session multiplexer); a heartbeat extends the lease meanwhile;
 *   3. commit, in one transaction, the chunk's state (done; only if the lease is still ours) and
 *      its encoded documents with their vectors (an edited document's stored row is overwritten).
 * A killed worker stops renewing its lease; when the lease runs out another worker takes the
 * chunk over. A worker that lost its lease (it stalled) finds its done-update matching no row
 * and discards its work. Progress counts documents in done chunks, over all workers.
 *
 * The HNSW index. Inserting into the index row by row is far slower than building it over the
 * loaded table (200,000 rows: a load of 18.9 s without it, then a 215 s build; with it in place
 * a 20,000-row load had not finished after 4 minutes of engine CPU). So when the worker that
 * registers a new job finds the documents table empty, it drops the index in that same
 * transaction (under the schema lock, so no store opening meanwhile re-creates it) and records
 * the deferral in rr_meta (INDEX_DEFERRED_KEY). Whichever worker then sees the job finished (every chunk done) builds
 * the index and clears the record in one transaction, under an advisory lock: the others wait
 * for it and find nothing left to do. A run killed before the build leaves the record; running
 * the command again finds every chunk done and builds the index. Until then searches scan the
 * table (the search's `enable_seqscan = off` only penalises that plan), and opening the store
 * warns. A table that already holds documents keeps its index: dropping it would cost a rebuild
 * of everything for the sake of what is added.
 */
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type pg from "pg";
import { RouterRetrieverError } from "../../errors.js";
import type { Doc as StoredDocument } from "../../data/beir.js";
import type { StoreSpec } from "../types.js";
import { createPool, ensureSchema, HNSW_INDEX_SQL, INDEX_DEFERRED_KEY, inTransaction, query, SCHEMA_LOCK, VectorOidCache } from "./connect.js";
import { insertDocuments, unchangedDocuments } from "./index.js";

export interface BulkIndexOptions {
  /** Documents per chunk when this worker creates the job (later workers use the job's). */
  readonly chunkSize?: number;
  /** Seconds a claim stays valid without a heartbeat (default 60). */
  readonly leaseSeconds?: number;
  /** This worker's name in rr_index_chunks (default host:pid:random). */
  readonly workerId?: string;
  /** Base-model embeddings of documents, row-major. */
  readonly encode: (docs: readonly StoredDocument[]) => Promise<Float32Array>;
  /** Documents in done chunks over all workers, and the job's total. */
  readonly onProgress?: (p: { readonly done: number; readonly total: number; readonly encodedHere: number }) => void;
  /** How often to refresh progress and look for expired leases while others work (default 1000 ms). */
  readonly pollMs?: number;
  /** Called when this worker starts building the HNSW index after the load (it can take minutes). */
  readonly onIndexBuild?: (documents: number) => void;
}

export interface BulkIndexResult {
  readonly job: string;
  readonly total: number;
  readonly chunks: number;
  /** Chunks and documents this worker committed. */
  readonly chunksHere: number;
  readonly encodedHere: number;
  /** Chunks this worker took over from a worker whose lease ran out. */
  readonly takenOver: number;
  /** This worker dropped the HNSW index because the job started on an empty table. */
  readonly indexDeferred: boolean;
  /** Present when this worker built the deferred HNSW index after the last chunk. */
  readonly indexBuild?: { readonly documents: number; readonly seconds: number };
}

const DEFAULT_CHUNK = 256;
const DEFAULT_LEASE_SECONDS = 60;

/** The job id: model and every document's id and text, so another corpus never resumes this one's chunks. */
export function bulkJobId(spec: StoreSpec, docs: readonly StoredDocument[]): string {
  const h = createHash("sha256").update(`${spec.modelId}\n${spec.dims}\n${docs.length}\n`);
  for (const d of docs) h.update(`${d.id}\u0000${d.title}\u0000${d.text}\u0001`);
  return h.digest("hex").slice(0, 24);
}

export async function bulkIndex(url: string, spec: StoreSpec, docs: readonly StoredDocument[], opts: BulkIndexOptions): Promise<BulkIndexResult> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
  const lease = opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new RouterRetrieverError("BAD_INPUT", `chunk size must be a positive integer, got ${chunkSize}`);
  if (!(lease > 0)) throw new RouterRetrieverError("BAD_INPUT", `lease must be positive seconds, got ${lease}`);
  const seen = new Set<string>();
  for (const d of docs) {
    if (seen.has(d.id)) throw new RouterRetrieverError("CONFLICT", `document id "${d.id}" appears twice in the corpus`);
    seen.add(d.id);
  }
  const worker = opts.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  const job = bulkJobId(spec, docs);
  const pool = createPool(url);
  const vectorOid = new VectorOidCache();
  const pollMs = opts.pollMs ?? 1000;
  let encodedHere = 0;
  let chunksHere = 0;
  let takenOver = 0;
  try {
    await ensureSchema(pool, url, spec);
    const { chunks, indexDeferred } = await registerJob(pool, url, job, docs.length, chunkSize);
    const report = async (): Promise<void> => {
      if (!opts.onProgress) return;
      const r = await query<{ done: string | null }>(pool, url, "reading progress", "SELECT sum(doc_count) FILTER (WHERE state = 'done') AS done FROM rr_index_chunks WHERE job = $1", [job]);
      opts.onProgress({ done: Number(r.rows[0]?.done ?? 0), total: docs.length, encodedHere });
    };
    await report();
    for (;;) {
      const claim = await claimChunk(pool, url, job, worker, lease);
      if (claim === "finished") break;
      if (claim === "wait") {
        // Every remaining chunk is held by a live lease: wait for it to finish or expire.
        await report();
        await new Promise((r) => setTimeout(r, pollMs));
        continue;
      }
      if (claim.attempts > 1) takenOver++;
      const heartbeat = setInterval(() => {
        pool
          .query("UPDATE rr_index_chunks SET lease_until = now() + make_interval(secs => $4) WHERE job = $1 AND chunk = $2 AND worker = $3 AND state = 'running'", [job, claim.chunk, worker, lease])
          .catch(() => {});
      }, Math.max(200, (lease * 1000) / 3));
      let committed: boolean;
      let todo: readonly StoredDocument[] = [];
      try {
        // Only new and edited documents are encoded: a corpus that changed is a new job, and
        // its documents already stored as they are keep their vectors.
        const part = docs.slice(claim.firstDoc, claim.firstDoc + claim.docCount);
        const same = await unchangedDocuments(pool, url, part);
        todo = part.filter((d) => !same.has(d.id));
        const vectors = todo.length > 0 ? await opts.encode(todo) : new Float32Array(0);
        committed = await commitChunk(pool, url, job, claim.chunk, worker, todo, vectors, spec.dims, vectorOid);
      } finally {
        clearInterval(heartbeat);
      }
      if (committed) {
        chunksHere++;
        encodedHere += todo.length;
      }
      await report();
    }
    await report();
    // Every chunk is done: build the HNSW index if a load deferred it (this job's or an interrupted one's).
    const indexBuild = await buildDeferredIndex(pool, url, spec.dims, opts.onIndexBuild);
    return { job, total: docs.length, chunks, chunksHere, encodedHere, takenOver, indexDeferred, ...(indexBuild ? { indexBuild } : {}) };
  } finally {
    await pool.end().catch(() => {});
  }
}

/** Documents in done chunks of `job` and its total (for a progress display that is not a worker). */
export async function bulkProgress(url: string, job: string): Promise<{ done: number; total: number; running: number }> {
  const pool = createPool(url);
  try {
    const r = await query<{ done: string | null; total: string | null; running: string }>(
      pool,
      url,
      "reading progress",
      "SELECT sum(doc_count) FILTER (WHERE state = 'done') AS done, sum(doc_count) AS total, count(*) FILTER (WHERE state = 'running') AS running FROM rr_index_chunks WHERE job = $1",
      [job],
    );
    return { done: Number(r.rows[0]?.done ?? 0), total: Number(r.rows[0]?.total ?? 0), running: Number(r.rows[0]?.running ?? 0) };
  } finally {
    await pool.end().catch(() => {});
  }
}

/**
 * Creates the job's chunk rows unless another worker did; returns the job's chunk count. A new
 * job on an empty documents table drops the HNSW index, to be built after the load (see top).
 */
async function registerJob(pool: pg.Pool, url: string, job: string, total: number, chunkSize: number): Promise<{ chunks: number; indexDeferred: boolean }> {
  return inTransaction(pool, url, "registering the indexing job", async (c) => {
    await c.query("SELECT pg_advisory_xact_lock(7177002)");
    const have = await c.query<{ n: string }>("SELECT count(*) AS n FROM rr_index_chunks WHERE job = $1", [job]);
    if (Number(have.rows[0]!.n) > 0) return { chunks: Number(have.rows[0]!.n), indexDeferred: false };
    const n = Math.ceil(total / chunkSize);
    if (n === 0) return { chunks: 0, indexDeferred: false };
    await c.query(
      `INSERT INTO rr_index_chunks (job, chunk, first_doc, doc_count)
       SELECT $1, g, g * $2, LEAST($2, $3 - g * $2) FROM generate_series(0, $4 - 1) AS g`,
      [job, chunkSize, total, n],
    );
    // The schema lock: a store opening now must not re-create the index after the DROP.
    await c.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`);
    const empty = (await c.query<{ empty: boolean }>("SELECT NOT EXISTS (SELECT 1 FROM rr_documents) AS empty")).rows[0]!.empty;
    if (!empty) return { chunks: n, indexDeferred: false };
    await c.query("DROP INDEX IF EXISTS rr_documents_hnsw");
    await c.query("INSERT INTO rr_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", [INDEX_DEFERRED_KEY, job]);
    return { chunks: n, indexDeferred: true };
  });
}

/**
 * pgvector builds the graph in maintenance_work_mem and slows down sharply once it outgrows it.
 * A generous guess of the graph's size (the vector plus neighbour lists and bookkeeping per row),
 * capped at 1 GB (which held 200,000 rows of 384 dims, bench/store.ts); a larger setting is kept.
 */
const BUILD_BYTES_PER_ROW_BEYOND_VECTOR = 1024;
const MAX_BUILD_MEMORY_MB = 1024;

/** Builds the deferred HNSW index and clears the deferral, once (serialised over all workers); undefined when none was deferred. */
async function buildDeferredIndex(pool: pg.Pool, url: string, dims: number, onIndexBuild: ((documents: number) => void) | undefined): Promise<{ documents: number; seconds: number } | undefined> {
  return inTransaction(pool, url, "building the HNSW index", async (c) => {
    await c.query("SELECT pg_advisory_xact_lock(7177003)");
    const deferred = await c.query("SELECT value FROM rr_meta WHERE key = $1", [INDEX_DEFERRED_KEY]);
    if (deferred.rowCount === 0) return undefined;
    const documents = Number((await c.query<{ n: string }>("SELECT count(*) AS n FROM rr_documents")).rows[0]!.n);
    const wantMb = Math.min(MAX_BUILD_MEMORY_MB, Math.ceil((documents * (4 * dims + BUILD_BYTES_PER_ROW_BEYOND_VECTOR)) / 2 ** 20));
    const haveKb = Number((await c.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'maintenance_work_mem'")).rows[0]!.setting);
    if (wantMb * 1024 > haveKb) await c.query(`SET LOCAL maintenance_work_mem = '${wantMb}MB'`);
    onIndexBuild?.(documents);
    const t0 = performance.now();
    await c.query(HNSW_INDEX_SQL);
    await c.query("DELETE FROM rr_meta WHERE key = $1", [INDEX_DEFERRED_KEY]);
    return { documents, seconds: (performance.now() - t0) / 1000 };
  });
}

type Claim = { chunk: number; firstDoc: number; docCount: number; attempts: number } | "wait" | "finished";

async function claimChunk(pool: pg.Pool, url: string, job: string, worker: string, lease: number): Promise<Claim> {
  return inTransaction(pool, url, "claiming a chunk", async (c) => {
    const r = await c.query<{ chunk: number; first_doc: number; doc_count: number; attempts: number }>(
      `SELECT chunk, first_doc, doc_count, attempts FROM rr_index_chunks
        WHERE job = $1 AND (state = 'todo' OR (state = 'running' AND lease_until < now()))
        ORDER BY chunk LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [job],
    );
    const row = r.rows[0];
    if (!row) {
      const left = await c.query<{ n: string }>("SELECT count(*) AS n FROM rr_index_chunks WHERE job = $1 AND state <> 'done'", [job]);
      return Number(left.rows[0]!.n) > 0 ? "wait" : "finished";
    }
    await c.query(
      "UPDATE rr_index_chunks SET state = 'running', worker = $3, lease_until = now() + make_interval(secs => $4), attempts = attempts + 1 WHERE job = $1 AND chunk = $2",
      [job, row.chunk, worker, lease],
    );
    return { chunk: row.chunk, firstDoc: row.first_doc, docCount: row.doc_count, attempts: row.attempts + 1 };
  });
}

/** Marks the chunk done and stores its documents in one transaction; false when the lease was lost. */
async function commitChunk(
  pool: pg.Pool,
  url: string,
  job: string,
  chunk: number,
  worker: string,
  docs: readonly StoredDocument[],
  vectors: Float32Array,
  dims: number,
  vectorOid: VectorOidCache,
): Promise<boolean> {
  return inTransaction(pool, url, "committing a chunk", async (c) => {
    const r = await c.query(
      "UPDATE rr_index_chunks SET state = 'done', done_at = now(), lease_until = NULL WHERE job = $1 AND chunk = $2 AND worker = $3 AND state = 'running' RETURNING chunk",
      [job, chunk, worker],
    );
    if (r.rowCount === 0) return false;
    if (docs.length > 0) await insertDocuments(c, docs, vectors, dims, "replace", vectorOid);
    return true;
  });
}
