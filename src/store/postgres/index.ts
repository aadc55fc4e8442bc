/**
 * The PostgreSQL + pgvector store: one database shared by any number of processes on any number
 * of machines.
 *
 *   rr_meta          the model the vectors were made with (checked on every open)
 *   rr_documents     id, title, body, embedding vector(dims); HNSW index (inner product)
 *   rr_experts       the expert registry: name, active, sha256 of the stored adapter
 *   rr_expert_files  the adapter folders' files, so a process on another machine can load them
 *   rr_pilots        the store's own pilot library (routing/persist.ts JSON)
 *   rr_version       one counter bumped by every expert or pilot change (see watch)
 *   rr_index_chunks  bulk-indexing chunk claims (bulk.ts)
 *
 * Following other processes: each process polls rr_version (default every second) and, when
 * it moved, re-reads the registry and the pilot library. Polling one row was chosen over
 * LISTEN/NOTIFY because it also works through transaction-pooling proxies (pgbouncer) and
 * read replicas, and PGlite's socket server (the test engine) does not deliver notifications
 * across its multiplexed connections.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { RouterRetrieverError } from "../../errors.js";
import type { Doc as StoredDocument } from "../../data/beir.js";
import { checkExpertName, resolveExpertDir } from "../../experts/expert-dir.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { redactStoreLocation } from "../location.js";
import type { ExpertsChange, ExpertsState, Store, StoreIntegrity, StoreSpec, StoredHit } from "../types.js";
import { checkEfSearch, DEFAULT_EF_SEARCH, efSearchFor } from "./ef-search.js";
import { createPool, ensureSchema, inTransaction, query, vectorArrayParam, VectorOidCache, vectorParam } from "./connect.js";

export interface PostgresStoreOptions {
  /** Exact scan instead of the HNSW index (slower; for measuring recall or small corpora). */
  readonly exactSearch?: boolean;
  /**
   * pgvector hnsw.ef_search, 1..1000 (default 100): the HNSW search's candidate list; larger is
   * slower with better recall. A search for more than this many hits runs with ef_search = k.
   * Not with exactSearch.
   */
  readonly efSearch?: number;
  /** How often to look for other processes' expert and pilot changes (default 1000 ms). */
  readonly pollMs?: number;
  /** Told at open when the HNSW index is not built yet (a bulk load into the empty table is deferring it). */
  readonly onWarning?: (message: string) => void;
}

export { DEFAULT_EF_SEARCH, MAX_EF_SEARCH } from "./ef-search.js";

/** The pilot library file PilotState reads in localDir (its store copy). */
const PILOTS_FILE = "pilots.json";
/** Largest adapter folder accepted into the database. */
const MAX_ADAPTER_BYTES = 512 << 20;

export async function openPostgresStore(url: string, spec: StoreSpec, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  if (opts.efSearch !== undefined) {
    checkEfSearch(opts.efSearch, "efSearch");
    if (opts.exactSearch) throw new RouterRetrieverError("BAD_INPUT", "efSearch and exactSearch exclude each other: the exact scan does not use the HNSW index");
  }
  const pool = createPool(url);
  try {
    const { storeId, indexDeferredBy } = await ensureSchema(pool, url, spec);
    if (indexDeferredBy !== undefined) {
      opts.onWarning?.(
        `${redactStoreLocation(url)}: the HNSW index is not built yet: bulk indexing job ${indexDeferredBy} loads the empty table without it and builds it when its last chunk is done ` +
          "(an interrupted run finishes when `routerretriever index` is run again); until then every search scans the whole table",
      );
    }
    const version = await readVersion(pool, url);
    return new PostgresStore(url, pool, spec, opts, version, storeId);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
}

export class PostgresStore implements Store {
  readonly kind = "postgres" as const;
  readonly location: string;
  /** Per process, removed on close: the pulled pilot library and downloaded adapters. */
  readonly localDir: string;
  readonly integrity: StoreIntegrity;
  /** The vector type's OID, looked up by the first insert. */
  readonly vectorOid = new VectorOidCache();
  private pulledPilotsSha: string | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly spec: StoreSpec,
    private readonly opts: PostgresStoreOptions,
    private seenVersion: string,
    readonly storeId: string | undefined,
  ) {
    this.integrity = { verifiedAt: new Date().toISOString(), vectors: "kept by PostgreSQL", documents: "kept by PostgreSQL" };
    this.location = redactStoreLocation(url);
    this.localDir = mkdtempSync(join(tmpdir(), "routerretriever-pg-"));
  }

  private q<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    return query<R>(this.pool, this.url, what, sql, params);
  }

  private tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, this.url, what, fn);
  }

  async count(): Promise<number> {
    const r = await this.q<{ n: string }>("counting documents", "SELECT count(*) AS n FROM rr_documents");
    return Number(r.rows[0]!.n);
  }

  async existing(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const r = await this.q<{ id: string }>("looking up documents", "SELECT id FROM rr_documents WHERE id = ANY($1::text[])", [ids]);
    return new Set(r.rows.map((x) => x.id));
  }

  async get(id: string): Promise<StoredDocument | undefined> {
    const r = await this.q<{ id: string; title: string; body: string }>("reading a document", "SELECT id, title, body FROM rr_documents WHERE id = $1", [id]);
    const row = r.rows[0];
    return row ? { id: row.id, title: row.title, text: row.body } : undefined;
  }

  async vectorsOf(ids: readonly string[]): Promise<Float32Array> {
    const d = this.spec.dims;
    const r = await this.q<{ id: string; v: string }>("reading document vectors", "SELECT id, embedding::text AS v FROM rr_documents WHERE id = ANY($1::text[])", [ids]);
    const byId = new Map(r.rows.map((x) => [x.id, x.v]));
    const out = new Float32Array(ids.length * d);
    ids.forEach((id, i) => {
      const text = byId.get(id);
      if (text === undefined) throw new RouterRetrieverError("NOT_FOUND", `document "${id}" is not in the store`);
      const parts = text.slice(1, -1).split(",");
      if (parts.length !== d) throw new RouterRetrieverError("SHAPE_MISMATCH", `document "${id}": stored vector has ${parts.length} dims, expected ${d}`);
      for (let t = 0; t < d; t++) out[i * d + t] = Number(parts[t]);
    });
    return out;
  }

  async search(queries: Float32Array, k: number): Promise<StoredHit[][]> {
    const d = this.spec.dims;
    if (queries.length % d !== 0) throw new RouterRetrieverError("SHAPE_MISMATCH", `search: query buffer length ${queries.length} is not a multiple of the store's dims ${d}`);
    const n = queries.length / d;
    return this.tx("search", async (c) => {
      for (const setting of searchSettings(this.opts, k)) await c.query(setting);
      const out: StoredHit[][] = [];
      for (let i = 0; i < n; i++) {
        const r = await c.query<{ id: string; title: string; body: string; score: number }>(SEARCH_SQL, [vectorParam(queries, i, d), k]);
        out.push(r.rows.map((x) => ({ id: x.id, score: Number(x.score), title: x.title, text: x.body })));
      }
      return out;
    });
  }

  async append(docs: readonly StoredDocument[], vectors: Float32Array): Promise<void> {
    if (docs.length === 0) return;
    await this.tx("adding documents", (c) => insertDocuments(c, docs, vectors, this.spec.dims, "fail", this.vectorOid));
  }

  async replace(docs: readonly StoredDocument[], vectors: Float32Array): Promise<void> {
    if (docs.length === 0) return;
    await this.tx("replacing documents", async (c) => {
      const have = await c.query<{ id: string }>("SELECT id FROM rr_documents WHERE id = ANY($1::text[])", [docs.map((d) => d.id)]);
      const stored = new Set(have.rows.map((x) => x.id));
      const gone = docs.find((d) => !stored.has(d.id));
      if (gone) throw new RouterRetrieverError("NOT_FOUND", `document "${gone.id}" is not in the store; nothing was replaced`);
      await insertDocuments(c, docs, vectors, this.spec.dims, "replace", this.vectorOid);
    });
  }

  async unchanged(docs: readonly StoredDocument[]): Promise<Set<string>> {
    return unchangedDocuments(this.pool, this.url, docs);
  }

  async readExperts(): Promise<ExpertsState> {
    const r = await this.q<{ name: string; active: boolean }>("reading the expert registry", "SELECT name, active FROM rr_experts ORDER BY name");
    return { active: r.rows.filter((x) => x.active).map((x) => x.name), known: r.rows.map((x) => x.name) };
  }

  async updateExperts(change: ExpertsChange): Promise<ExpertsState> {
    await this.tx("updating the expert registry", async (c) => {
      for (const [names, active] of [[change.activate ?? [], true], [change.deactivate ?? [], false]] as const) {
        for (const name of names) {
          await c.query(`INSERT INTO rr_experts (name, active) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET active = $2, updated_at = now()`, [name, active]);
        }
      }
      await bumpVersion(c);
    });
    return this.readExperts();
  }

  async storedExperts(): Promise<string[]> {
    const r = await this.q<{ name: string }>("listing stored experts", "SELECT name FROM rr_experts WHERE sha256 IS NOT NULL ORDER BY name");
    return r.rows.map((x) => x.name);
  }

  async expertDir(name: string, expertsDir: string | undefined): Promise<string> {
    checkExpertName(name);
    const r = await this.q<{ sha256: string | null }>("reading an expert", "SELECT sha256 FROM rr_experts WHERE name = $1", [name]);
    const sha = r.rows[0]?.sha256;
    if (sha == null) return resolveExpertDir(expertsDir, name);
    const dir = join(this.localDir, "experts", `${name}-${sha.slice(0, 16)}`);
    if (existsSync(dir)) return dir;
    const files = await this.q<{ file: string; content: Buffer }>("downloading an expert", "SELECT file, content FROM rr_expert_files WHERE name = $1", [name]);
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const f of files.rows) writeFileSync(join(tmp, f.file), f.content);
    renameSync(tmp, dir);
    return dir;
  }

  async publishExpert(name: string, dir: string): Promise<void> {
    checkExpertName(name);
    const files = readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith(".") && (e.isFile() || (e.isSymbolicLink() && statSync(join(dir, e.name)).isFile())))
      .map((e) => e.name)
      .sort();
    let total = 0;
    const h = createHash("sha256");
    const contents = files.map((f) => {
      const b = readFileSync(join(dir, f));
      total += b.byteLength;
      h.update(`${f}\n${b.byteLength}\n`).update(b);
      return b;
    });
    if (total > MAX_ADAPTER_BYTES) throw new RouterRetrieverError("LIMIT_EXCEEDED", `expert "${name}": adapter folder holds ${total} bytes, more than the ${MAX_ADAPTER_BYTES} a store accepts`);
    const sha = h.digest("hex");
    await this.tx("storing an expert's adapter", async (c) => {
      await c.query("DELETE FROM rr_expert_files WHERE name = $1", [name]);
      for (let i = 0; i < files.length; i++) await c.query("INSERT INTO rr_expert_files (name, file, content) VALUES ($1, $2, $3)", [name, files[i], contents[i]]);
      // Stored inactive when new: activation is the registry's decision (updateExperts).
      await c.query(`INSERT INTO rr_experts (name, active, sha256) VALUES ($1, false, $2) ON CONFLICT (name) DO UPDATE SET sha256 = $2, updated_at = now()`, [name, sha]);
      await bumpVersion(c);
    });
  }

  async pullPilots(): Promise<void> {
    const r = await this.q<{ library: string; sha256: string }>("reading the pilot library", "SELECT library, sha256 FROM rr_pilots WHERE id = 1");
    const row = r.rows[0];
    const path = join(this.localDir, PILOTS_FILE);
    if (!row) {
      rmSync(path, { force: true });
      this.pulledPilotsSha = undefined;
      return;
    }
    if (row.sha256 === this.pulledPilotsSha && existsSync(path)) return;
    writeFileAtomic(path, row.library);
    this.pulledPilotsSha = row.sha256;
  }

  async pushPilots(): Promise<void> {
    const path = join(this.localDir, PILOTS_FILE);
    if (!existsSync(path)) return;
    const text = readFileSync(path, "utf8");
    const sha = createHash("sha256").update(text).digest("hex");
    await this.tx("saving the pilot library", async (c) => {
      await c.query(`INSERT INTO rr_pilots (id, library, sha256) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET library = $1, sha256 = $2, updated_at = now()`, [text, sha]);
      await bumpVersion(c);
    });
    this.pulledPilotsSha = sha;
  }

  watch(onChange: () => Promise<void>): () => void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.closed) return;
      busy = true;
      void (async () => {
        try {
          const v = await readVersion(this.pool, this.url);
          if (v !== this.seenVersion) {
            this.seenVersion = v;
            await onChange();
          }
        } catch {
          // A missed poll (database briefly unreachable) is retried at the next tick.
        } finally {
          busy = false;
        }
      })();
    }, this.opts.pollMs ?? 1000);
    timer.unref();
    return () => clearInterval(timer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => {});
    rmSync(this.localDir, { recursive: true, force: true });
  }
}

/**
 * The top-k query; $1 is the query vector in binary (vectorParam). `<#>` is the negative inner product, the operator the HNSW index
 * (vector_ip_ops) serves; ties are broken by id so that results are deterministic, as the flat
 * store's are by row (the planner keeps the index scan and sorts only within equal distances).
 */
export const SEARCH_SQL = `SELECT id, title, body, -(embedding <#> $1::vector) AS score FROM rr_documents ORDER BY embedding <#> $1::vector, id LIMIT $2`;

/**
 * The settings a search for `k` hits starts its transaction with (ef_search: efSearchFor). They
 * are SET LOCAL, inside one transaction for
 * the whole batch: per-connection SETs would leak to other users of a pooled connection (and
 * PGlite shares one session).
 *
 * Approximate search also turns sequential scans off: once ef_search is large next to the
 * table, pgvector's cost estimate makes the planner scan every row instead of the index. On
 * scifact (5,183 documents) it did so from ef_search 100 on, and the "approximate" search then
 * ran as slowly as the exact scan (bench/store.ts --scifact). Off only penalises the plan, so a
 * table without the index (bulk loading, a shard) is still searched.
 */
export function searchSettings(opts: Pick<PostgresStoreOptions, "exactSearch" | "efSearch">, k = 0): string[] {
  if (opts.exactSearch) return ["SET LOCAL enable_indexscan = off"];
  return [`SET LOCAL hnsw.ef_search = ${efSearchFor(opts.efSearch ?? DEFAULT_EF_SEARCH, k)}`, "SET LOCAL enable_seqscan = off"];
}

/**
 * Rows per INSERT statement. Vectors go in binary (vectorArrayParam), 1,548 bytes a row at 384
 * dims, so a statement is ~1.5 MB. 5,000 rows into PGlite through pglite-socket (engine in a child
 * process) took 0.67 s wall at 250 rows a statement, 0.33 s at 1,000, 0.49 s at 2,000
 * (bench/store-insert.ts, load 4-5); pglite-socket reassembles a large message with a copy per
 * received chunk, so much larger statements do not pay.
 */
export const INSERT_BATCH = 1000;

/**
 * Inserts documents with their vectors in the caller's transaction (one statement per
 * INSERT_BATCH rows). An id already stored fails the whole transaction (`onExisting` "fail":
 * CONFLICT), or the stored document and vector are overwritten ("replace": an edited document,
 * or a bulk chunk redone after a takeover, which writes the same values again). `vectorOid`
 * caches the vector type's OID for the caller's pool (one lookup per store or bulk run).
 */
export async function insertDocuments(
  c: pg.PoolClient,
  docs: readonly StoredDocument[],
  vectors: Float32Array,
  dims: number,
  onExisting: "fail" | "replace",
  vectorOid: VectorOidCache,
): Promise<void> {
  if (vectors.length !== docs.length * dims) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `append: ${docs.length} documents need ${docs.length * dims} floats (dims ${dims}), got ${vectors.length}`);
  }
  for (let i = 0; i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i])) throw new RouterRetrieverError("BAD_INPUT", `append: vector for document "${docs[Math.floor(i / dims)]!.id}" has a non-finite value`);
  }
  if (docs.length === 0) return;
  const oid = await vectorOid.get(c);
  const sql =
    `INSERT INTO rr_documents (id, title, body, embedding)
     SELECT id, title, body, v FROM unnest($1::text[], $2::text[], $3::text[], $4::vector[]) AS t(id, title, body, v)` +
    (onExisting === "replace" ? " ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, embedding = EXCLUDED.embedding" : "");
  for (let i = 0; i < docs.length; i += INSERT_BATCH) {
    const part = docs.slice(i, i + INSERT_BATCH);
    await c.query(sql, [part.map((d) => d.id), part.map((d) => d.title), part.map((d) => d.text), vectorArrayParam(oid, vectors, i, part.length, dims)]);
  }
}

/** The ids of those `docs` stored with exactly this title and text (one statement). */
export async function unchangedDocuments(pool: pg.Pool, url: string, docs: readonly StoredDocument[]): Promise<Set<string>> {
  if (docs.length === 0) return new Set();
  const r = await query<{ id: string }>(
    pool,
    url,
    "comparing documents with the stored ones",
    `SELECT d.id FROM rr_documents d JOIN unnest($1::text[], $2::text[], $3::text[]) AS t(id, title, body)
     ON d.id = t.id AND d.title = t.title AND d.body = t.body`,
    [docs.map((d) => d.id), docs.map((d) => d.title), docs.map((d) => d.text)],
  );
  return new Set(r.rows.map((x) => x.id));
}

async function bumpVersion(c: pg.PoolClient): Promise<void> {
  await c.query("UPDATE rr_version SET version = version + 1 WHERE id = 1");
}

async function readVersion(pool: pg.Pool, url: string): Promise<string> {
  const r = await query<{ version: string }>(pool, url, "reading the store version", "SELECT version FROM rr_version WHERE id = 1");
  return String(r.rows[0]?.version ?? "0");
}
