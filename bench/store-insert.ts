/**
 * Bulk-insert cost into PostgreSQL + pgvector by vector encoding: the text form ('[x,y,...]'
 * per row, the store's insert before issue 11's load fix) against the store's insertDocuments
 * (one binary vector[] parameter per statement), alternating on one engine, per batch size.
 * Reports wall seconds and CPU seconds of this process (the client) and of the engine (PGlite in
 * a child process, test/support/pglite-server.ts); CPU seconds hold up on a loaded machine, wall
 * seconds do not.
 *
 *   tsx bench/store-insert.ts [rows=5000] [batches=250,1000,2000] [rounds=1]
 */
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import pg from "pg";
import { insertDocuments, openPostgresStore } from "../src/store/postgres/index.js";
import { VectorOidCache, vectorLiteral } from "../src/store/postgres/connect.js";
import { rng } from "../src/util/random.js";
import { startPgliteServer } from "../test/support/pglite-server.js";

const dims = 384;
const n = Number(process.argv[2] ?? 5000);
const batches = (process.argv[3] ?? "250,1000,2000").split(",").map(Number);
const rounds = Number(process.argv[4] ?? 1);
const rand = rng(1);
const vectors = new Float32Array(n * dims);
for (let i = 0; i < vectors.length; i++) vectors[i] = rand() - 0.5;
const spec = { modelId: "insert-bench", dims, pooling: "mean" as const, normalized: true };
const docs = Array.from({ length: n }, (_, i) => ({ id: `s${i}`, title: "", text: `synthetic document s${i}` }));

/** User + system CPU seconds of a process, from /proc (Linux). */
const cpuOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};

const db = await startPgliteServer();
const engine = execSync(`pgrep -P ${process.pid}`).toString().trim().split("\n").map(Number).find((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes("pglite-server"));
if (engine === undefined) throw new Error("cannot find the PGlite engine's child process");
console.log(`load average at start ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
console.log(`| vectors as | rows/statement | rows | wall s | rows/s | client CPU s | engine CPU s |\n|---|---|---|---|---|---|---|`);
try {
  await (await openPostgresStore(db.url, spec)).close();
  const c = new pg.Pool({ connectionString: db.url, max: 1 });
  const client = await c.connect();
  const vectorOid = new VectorOidCache();
  await client.query("DROP INDEX IF EXISTS rr_documents_hnsw");
  for (let r = 0; r < rounds; r++) {
    for (const batch of batches) {
      for (const mode of ["text", "binary"] as const) {
        await client.query("TRUNCATE rr_documents");
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const e0 = cpuOf(engine);
        for (let i = 0; i < n; i += batch) {
          const m = Math.min(batch, n - i);
          await client.query("BEGIN");
          if (mode === "binary") {
            // The store's own path (it splits into INSERT_BATCH-row statements itself; here m <= 2,000).
            await insertDocuments(client, docs.slice(i, i + m), vectors.subarray(i * dims, (i + m) * dims), dims, "fail", vectorOid);
          } else {
            const part = docs.slice(i, i + m);
            await client.query(
              "INSERT INTO rr_documents (id, title, body, embedding) SELECT id, title, body, v::vector FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, title, body, v)",
              [part.map((d) => d.id), part.map((d) => d.title), part.map((d) => d.text), part.map((_, j) => vectorLiteral(vectors, i + j, dims))],
            );
          }
          await client.query("COMMIT");
        }
        const wall = (performance.now() - t0) / 1000;
        const cu = process.cpuUsage(c0);
        const stored = Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM rr_documents")).rows[0]!.n);
        if (stored !== n) throw new Error(`${mode}: stored ${stored} of ${n} rows`);
        console.log(`| ${mode} | ${batch} | ${n} | ${wall.toFixed(2)} | ${(n / wall).toFixed(0)} | ${((cu.user + cu.system) / 1e6).toFixed(2)} | ${(cpuOf(engine) - e0).toFixed(2)} |`);
      }
    }
  }
  client.release();
  await c.end();
} finally {
  await db.stop();
}
console.log(`load average at end ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
