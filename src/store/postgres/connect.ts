/**
 * Connecting to PostgreSQL and creating the schema. Credentials come from the URL or from the
 * standard PG* environment variables (the `pg` driver reads PGUSER, PGPASSWORD, PGHOST, ...
 * for whatever the URL leaves out); they never appear in a message (redactStoreLocation).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { RouterRetrieverError } from "../../errors.js";
import { redactStoreLocation } from "../location.js";
import type { StoreSpec } from "../types.js";

export const SCHEMA_VERSION = 1;

/** Connections per process: searches run in parallel up to this many. */
const POOL_SIZE = 4;

export function createPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, idleTimeoutMillis: 10_000 });
  // An idle connection dropped by the server must not crash the process; the pool reconnects.
  pool.on("error", () => {});
  return pool;
}

/** Turns a driver error into one clear line without the connection string. */
export function pgError(url: string, what: string, err: unknown): RouterRetrieverError {
  if (err instanceof RouterRetrieverError) return err;
  const e = err as { code?: string; message?: string };
  const msg = `${redactStoreLocation(url)}: ${what}: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ""}`;
  if (e.code === "23505") return new RouterRetrieverError("CONFLICT", msg, { cause: err });
  if (e.code === "ECONNREFUSED" || e.code === "ENOTFOUND" || e.code === "28P01" || e.code === "3D000") return new RouterRetrieverError("NOT_FOUND", msg, { cause: err });
  return new RouterRetrieverError("INTERNAL", msg, { cause: err });
}

/** One statement on any of the pool's connections; a failure is one clear line saying `what` failed. */
export async function query<R extends pg.QueryResultRow>(pool: pg.Pool, url: string, what: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(sql, params);
  } catch (err) {
    throw pgError(url, what, err);
  }
}

/** Runs `fn` in one transaction on one connection: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, url: string, what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  let c: pg.PoolClient;
  try {
    c = await pool.connect();
  } catch (err) {
    throw pgError(url, "cannot connect", err);
  }
  try {
    await c.query("BEGIN");
    const out = await fn(c);
    await c.query("COMMIT");
    return out;
  } catch (err) {
    await c.query("ROLLBACK").catch(() => {});
    throw pgError(url, what, err);
  } finally {
    c.release();
  }
}

/** The advisory lock ensureSchema holds (and bulk.ts while it drops the index). */
export const SCHEMA_LOCK = 7177001;

/** The documents' HNSW index (inner product, as the flat store ranks; m=16, ef_construction=64). */
export const HNSW_INDEX_SQL = `CREATE INDEX IF NOT EXISTS rr_documents_hnsw ON rr_documents USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)`;

/**
 * rr_meta key present while a bulk load into the empty table runs without the HNSW index (its
 * value: the job that dropped it); bulk.ts builds the index and removes the key once a job's
 * chunks are all done. Meanwhile opening the store does not re-create the index (that would make
 * the rest of the load maintain it row by row), and searches scan the table.
 */
export const INDEX_DEFERRED_KEY = "hnswIndexDeferredBy";

/**
 * Creates the tables on first use and checks the stored model on every open. Serialised by an
 * advisory lock so that several processes opening a fresh database at once do not race on
 * CREATE TABLE. `indexDeferredBy`: the bulk job loading without the HNSW index, if one is.
 */
export async function ensureSchema(pool: pg.Pool, url: string, spec: StoreSpec): Promise<{ storeId: string | undefined; indexDeferredBy: string | undefined }> {
  return inTransaction(pool, url, "cannot prepare the store's tables", async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`);
    await client.query("CREATE EXTENSION IF NOT EXISTS vector");
    await client.query(`CREATE TABLE IF NOT EXISTS rr_meta (key text PRIMARY KEY, value text NOT NULL)`);
    const meta = new Map((await client.query<{ key: string; value: string }>("SELECT key, value FROM rr_meta")).rows.map((r) => [r.key, r.value]));
    const want: Record<string, string> = {
      format: "routerretriever-store",
      schemaVersion: String(SCHEMA_VERSION),
      modelId: spec.modelId,
      dims: String(spec.dims),
      pooling: spec.pooling,
      normalized: String(spec.normalized),
    };
    let storeId = meta.get("storeId");
    if (meta.size === 0) {
      storeId = randomBytes(8).toString("hex");
      for (const [k, v] of Object.entries({ ...want, storeId })) await client.query("INSERT INTO rr_meta (key, value) VALUES ($1, $2)", [k, v]);
    } else {
      if (meta.get("format") !== want.format) throw new RouterRetrieverError("PARSE_ERROR", `${redactStoreLocation(url)}: table rr_meta does not describe a RouterRetriever store`);
      if (meta.get("schemaVersion") !== want.schemaVersion) {
        throw new RouterRetrieverError("UNSUPPORTED", `${redactStoreLocation(url)}: store schema version ${meta.get("schemaVersion")}; this build reads version ${SCHEMA_VERSION}`);
      }
      const diffs = ["modelId", "dims", "pooling", "normalized"].filter((k) => meta.get(k) !== want[k]);
      if (diffs.length > 0) {
        throw new RouterRetrieverError(
          "MODEL_MISMATCH",
          `${redactStoreLocation(url)} was built with model "${meta.get("modelId")}" (dims ${meta.get("dims")}, ${meta.get("pooling")}, normalized ${meta.get("normalized")}), ` +
            `but "${spec.modelId}" (dims ${spec.dims}, ${spec.pooling}, normalized ${spec.normalized}) is loaded; use another database`,
        );
      }
    }
    await client.query(
      `CREATE TABLE IF NOT EXISTS rr_documents (
         id text PRIMARY KEY,
         title text NOT NULL,
         body text NOT NULL,
         embedding vector(${spec.dims}) NOT NULL,
         added_at timestamptz NOT NULL DEFAULT now())`,
    );
    // Inner product: the flat store's exact ranking is by dot product, and for the normalised
    // embeddings every bundled model produces it equals cosine.
    const indexDeferredBy = meta.get(INDEX_DEFERRED_KEY);
    if (indexDeferredBy === undefined) await client.query(HNSW_INDEX_SQL);
    await client.query(`CREATE TABLE IF NOT EXISTS rr_experts (name text PRIMARY KEY, active boolean NOT NULL, sha256 text, updated_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`CREATE TABLE IF NOT EXISTS rr_expert_files (name text NOT NULL, file text NOT NULL, content bytea NOT NULL, PRIMARY KEY (name, file))`);
    await client.query(`CREATE TABLE IF NOT EXISTS rr_pilots (id int PRIMARY KEY CHECK (id = 1), library text NOT NULL, sha256 text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`CREATE TABLE IF NOT EXISTS rr_version (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)`);
    await client.query(`INSERT INTO rr_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS rr_index_chunks (
         job text NOT NULL,
         chunk int NOT NULL,
         first_doc int NOT NULL,
         doc_count int NOT NULL,
         state text NOT NULL DEFAULT 'todo',
         worker text,
         lease_until timestamptz,
         attempts int NOT NULL DEFAULT 0,
         done_at timestamptz,
         PRIMARY KEY (job, chunk))`,
    );
    return { storeId, indexDeferredBy };
  });
}

/**
 * pgvector's binary form of a vector[] array of rows [from, from + n) (array_recv around
 * vector_recv: int16 dims, int16 0, dims big-endian float4), for a Buffer parameter, which the
 * `pg` driver sends in binary format. Parsing the text form ('[x,y,...]', vectorLiteral) was most
 * of a bulk insert's cost: into PGlite, 5,000 rows of 384 dims took 4.3-5.7 s of engine CPU and
 * 1.2-1.9 s of client CPU as text, 0.17-0.32 s and 0.06-0.22 s as binary (bench/store-insert.ts).
 * `vectorOid` is the vector type's OID in this database (VectorOidCache), which array_recv checks.
 */
export function vectorArrayParam(vectorOid: number, v: Float32Array, from: number, n: number, dims: number): Buffer {
  const elem = 4 + 4 * dims;
  const b = Buffer.allocUnsafe(20 + n * (4 + elem));
  b.writeInt32BE(1, 0); // dimensions of the array
  b.writeInt32BE(0, 4); // no NULLs
  b.writeUInt32BE(vectorOid, 8);
  b.writeInt32BE(n, 12);
  b.writeInt32BE(1, 16); // lower bound
  let o = 20;
  for (let i = 0; i < n; i++) {
    b.writeInt32BE(elem, o);
    b.writeInt16BE(dims, o + 4);
    b.writeInt16BE(0, o + 6);
    o += 8;
    const base = (from + i) * dims;
    for (let t = 0; t < dims; t++, o += 4) b.writeFloatBE(v[base + t]!, o);
  }
  return b;
}

/** The OID of pgvector's vector type in the database `c` is connected to. */
export async function vectorTypeOid(c: pg.ClientBase): Promise<number> {
  const r = await c.query<{ oid: number }>("SELECT 'vector'::regtype::oid::int AS oid");
  return r.rows[0]!.oid;
}

/**
 * The vector type's OID for one pool (a store, a bulk-indexing run): looked up on first use and
 * kept, so a bulk load asks once rather than once per committed chunk. The OID stays fixed while
 * the extension exists, and rr_documents depends on it (DROP EXTENSION takes the table along).
 */
export class VectorOidCache {
  /** Lookups sent to the database (1 once one succeeded; a failed one is retried next time). */
  lookups = 0;
  private oid: Promise<number> | undefined;

  get(c: pg.ClientBase): Promise<number> {
    if (this.oid === undefined) {
      this.lookups++;
      const p = vectorTypeOid(c);
      this.oid = p;
      p.catch(() => {
        if (this.oid === p) this.oid = undefined;
      });
    }
    return this.oid;
  }
}

/**
 * pgvector's binary form of one vector, row `row` of `v` (vector_recv: int16 dims, int16 0, dims
 * big-endian float4), for a `$n::vector` parameter: the `pg` driver sends a Buffer in binary, so
 * the engine does not parse the text form of every query vector.
 */
export function vectorParam(v: Float32Array, row: number, dims: number): Buffer {
  const b = Buffer.allocUnsafe(4 + 4 * dims);
  b.writeInt16BE(dims, 0);
  b.writeInt16BE(0, 2);
  const base = row * dims;
  for (let t = 0; t < dims; t++) b.writeFloatBE(v[base + t]!, 4 + 4 * t);
  return b;
}

/** pgvector's text form of one row: '[x,y,...]'. JS prints the float32 values exactly (shortest round-trip form). */
export function vectorLiteral(v: Float32Array, row: number, dims: number): string {
  const parts = new Array<string>(dims);
  for (let t = 0; t < dims; t++) parts[t] = String(v[row * dims + t]);
  return `[${parts.join(",")}]`;
}
