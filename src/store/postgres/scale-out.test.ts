/**
 * Scale-out on PostgreSQL, with real processes on a real PostgreSQL engine (PGlite over its
 * wire-protocol server, started here; every process connects through the `pg` driver):
 *   - two `serve` processes on one database: an expert removed, re-added or newly added through
 *     one is used by the other within seconds; the second process has no expert folders of its
 *     own, so it can only serve experts whose adapters it got from the database;
 *   - bulk indexing: a worker killed with SIGKILL while it holds a chunk; a second worker takes
 *     that chunk over when its lease runs out, and every document ends up stored exactly once;
 *     the load into the empty table runs without the HNSW index (searches scan meanwhile) and
 *     the run that completes the job builds it;
 *   - --ef-search on the commands that search.
 */
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpJson, runCli, spawnCli, startServe, type ServeProcess } from "../../../test/support/cli.js";
import { FIXTURE_DOCS, makeFixture, type Fixture } from "../../../test/support/engine.js";
import { startPgliteServer, type PgliteServer } from "../../../test/support/pglite-server.js";

const TOKEN = "scale-out-token-0123456789";
const CODE_QUERY = "python load json file";

let fx: Fixture;
let db: PgliteServer;
let corpus: string;

beforeAll(async () => {
  fx = await makeFixture();
  db = await startPgliteServer();
  corpus = join(fx.root, "corpus.jsonl");
  writeFileSync(corpus, FIXTURE_DOCS.map((d) => JSON.stringify(d)).join("\n") + "\n");
}, 300_000);
afterAll(async () => {
  await db?.stop();
  fx?.cleanup();
});

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, seconds = 15): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let v = await probe();
  while (!ok(v)) {
    if (Date.now() - t0 > seconds * 1000) throw new Error(`${what}: not within ${seconds} s (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 200));
    v = await probe();
  }
  return { value: v, ms: Date.now() - t0 };
}

describe("two service processes on one PostgreSQL database", { timeout: 400_000 }, () => {
  let a: ServeProcess;
  let b: ServeProcess;
  const aExperts = (): string => join(fx.root, "experts-a");
  const bExperts = (): string => join(fx.root, "experts-b-empty");

  beforeAll(async () => {
    const idx = await runCli(["index", corpus, "--store", db.url, "--chunk", "5", "--json", "--quiet"]);
    expect(idx.code, idx.stderr).toBe(0);
    expect(JSON.parse(idx.stdout)).toMatchObject({ documents: FIXTURE_DOCS.length, encoded: FIXTURE_DOCS.length });
    // A fresh database: loaded without the HNSW index, which this one worker then built.
    expect(typeof JSON.parse(idx.stdout).indexBuildSeconds).toBe("number");
    mkdirSync(aExperts());
    mkdirSync(bExperts());
    for (const n of ["scifact", "code"]) cpSync(join(fx.expertsDir, n), join(aExperts(), n), { recursive: true });
    const common = ["--store", db.url, "--pilots", fx.pilotsPath, "--port", "0", "--token", TOKEN, "--quiet"];
    a = await startServe([...common, "--experts", aExperts()]);
    // b also runs with a non-default ef_search (on this small corpus its hits are a's).
    b = await startServe([...common, "--experts", bExperts(), "--ef-search", "200"]);
  }, 400_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  const activeOn = async (s: ServeProcess): Promise<string[]> =>
    ((await httpJson(`${s.url}/api/experts`, "GET")).body.experts as { name: string; active: boolean }[]).filter((e) => e.active).map((e) => e.name);
  /** The routing decision and hits (not timings). */
  const routeOn = async (s: ServeProcess, query: string): Promise<{ expert: string; scores: Record<string, number>; hits: { id: string; score: number }[] }> => {
    const body = (await httpJson(`${s.url}/api/search`, "POST", { query, k: 3 })).body as { expert: string; scores: Record<string, number>; hits: { id: string; score: number }[] };
    return { expert: body.expert, scores: body.scores, hits: body.hits.map((h) => ({ id: h.id, score: h.score })) };
  };

  it("both serve the same corpus with the same experts; the second loaded them from the database", async () => {
    expect(await activeOn(a)).toEqual(["code", "scifact"]);
    expect(await activeOn(b)).toEqual(["code", "scifact"]);
    const ra = await routeOn(a, CODE_QUERY);
    const rb = await routeOn(b, CODE_QUERY);
    expect(ra.expert).toBe("code");
    expect(rb).toEqual(ra);
  });

  it("an expert removed and re-added through one is used by the other within seconds", async () => {
    const del = await httpJson(`${a.url}/api/experts/code`, "DELETE", undefined, TOKEN);
    expect(del.status).toBe(200);
    const gone = await until("b stops routing to code", () => routeOn(b, CODE_QUERY), (r) => !("code" in r.scores), 10);
    expect(gone.value.expert).not.toBe("code");
    const add = await httpJson(`${a.url}/api/experts`, "POST", { name: "code" }, TOKEN);
    expect(add.status).toBe(201);
    const back = await until("b routes to code again", () => routeOn(b, CODE_QUERY), (r) => r.expert === "code", 10);
    expect(back.value).toEqual(await routeOn(a, CODE_QUERY));
    console.error(`expert removal seen by the other process after ${gone.ms} ms, re-add after ${back.ms} ms`);
  });

  it("a new expert added through one becomes active on the other, which has no folder for it", async () => {
    cpSync(join(fx.expertsDir, "gamma"), join(aExperts(), "gamma"), { recursive: true });
    const add = await httpJson(`${a.url}/api/experts`, "POST", { name: "gamma" }, TOKEN);
    expect(add.status).toBe(201);
    await until("b has gamma active", () => activeOn(b), (x) => x.includes("gamma"), 10);
    const info = ((await httpJson(`${b.url}/api/experts`, "GET")).body.experts as { name: string; active: boolean; error?: string }[]).find((e) => e.name === "gamma");
    expect(info).toMatchObject({ name: "gamma", active: true });
    expect(info!.error).toBeUndefined();
  });
});

describe("--ef-search on the commands that search a PostgreSQL store", { timeout: 400_000 }, () => {
  it("search takes it (hits as the exact scan's on this small corpus); bad values, --exact and a folder store are refused naming the flag", async () => {
    const q = ["search", db.url, CODE_QUERY, "-k", "5", "--json"];
    const [ef, exact] = await Promise.all([runCli([...q, "--ef-search", "200"]), runCli([...q, "--exact"])]);
    expect(ef.code, ef.stderr).toBe(0);
    expect(exact.code, exact.stderr).toBe(0);
    const ids = (out: string): string[] => (JSON.parse(out) as { hits: { id: string }[] }[])[0]!.hits.map((h) => h.id);
    expect(ids(ef.stdout)).toHaveLength(5);
    expect(ids(ef.stdout)).toEqual(ids(exact.stdout));
    const refusals: [string[], RegExp][] = [
      [["search", db.url, "q", "--ef-search", "0"], /--ef-search must be an integer from 1 to 1000 .*got "0"/],
      [["search", db.url, "q", "--ef-search", "many"], /--ef-search must be an integer from 1 to 1000 .*got "many"/],
      [["search", db.url, "q", "--ef-search", "1001"], /--ef-search must be an integer from 1 to 1000 .*got "1001"/],
      [["search", db.url, "q", "--ef-search", "50", "--exact"], /--ef-search and --exact exclude each other/],
      [["search", fx.storeDir, "q", "--ef-search", "50"], /--ef-search applies to a PostgreSQL store's HNSW index; .* is a store folder/],
      [["serve", "--store", db.url, "--ef-search", "2.5", "--port", "0", "--quiet"], /--ef-search must be an integer from 1 to 1000 .*got "2.5"/],
    ];
    const got = await Promise.all(refusals.map(([args]) => runCli(args)));
    got.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(refusals[i]![1]);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    });
  });
});

describe("bulk indexing with a killed worker", { timeout: 600_000 }, () => {
  it("takes over the killed worker's chunk and stores every document exactly once", async () => {
    // A second database on the same engine would share tables; use a fresh engine instead.
    const db2 = await startPgliteServer();
    const client = new pg.Client({ connectionString: db2.url });
    try {
      const docs = Array.from({ length: 200 }, (_, i) => ({ id: `k${i}`, title: `Document ${i}`, text: `Killed worker test document number ${i} about topic ${i % 7}.` }));
      const file = join(fx.root, "bulk.jsonl");
      writeFileSync(file, docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
      const args = ["index", file, "--store", db2.url, "--chunk", "4", "--lease-seconds", "3", "--quiet"];
      await client.connect();
      // Kill a worker once it holds a chunk (after at least one committed). A chunk of 4 takes a
      // fraction of a second, so the kill can land between a commit and the next claim, leaving
      // nothing held: then another worker goes on with the job and is killed in turn.
      let held: { chunk: number; worker: string }[] = [];
      for (let attempt = 1; attempt <= 5 && held.length === 0; attempt++) {
        const victim = spawnCli(args);
        victim.stdout!.resume();
        victim.stderr!.resume();
        await until(
          "a worker to commit a chunk and claim the next",
          async () => {
            // The worker creates the tables once its model is loaded.
            const exists = (await client.query<{ t: string | null }>("SELECT to_regclass('rr_index_chunks')::text AS t")).rows[0]!.t;
            if (exists === null) return { done: "0", running: "0" };
            return (await client.query<{ done: string; running: string }>("SELECT count(*) FILTER (WHERE state = 'done') AS done, count(*) FILTER (WHERE state = 'running') AS running FROM rr_index_chunks")).rows[0]!;
          },
          (r) => Number(r.done) >= 1 && Number(r.running) >= 1,
          120,
        );
        victim.kill("SIGKILL");
        await new Promise((r) => victim.once("exit", r));
        held = (await client.query<{ chunk: number; worker: string }>("SELECT chunk, worker FROM rr_index_chunks WHERE state = 'running'")).rows;
      }
      expect(held.length).toBe(1);
      // The load into the empty table runs without the HNSW index; the killed run never built it ...
      const indexState = async (): Promise<{ index: string | null; deferred: string | null }> =>
        (await client.query<{ index: string | null; deferred: string | null }>(`SELECT to_regclass('rr_documents_hnsw')::text AS index, (SELECT value FROM rr_meta WHERE key = 'hnswIndexDeferredBy') AS deferred`)).rows[0]!;
      const killedState = await indexState();
      expect(killedState.index).toBeNull();
      expect(killedState.deferred).not.toBeNull();
      // ... and a search (the approximate one, no --exact) still answers, by scanning the table.
      const loaded = (await client.query<{ id: string; title: string; body: string }>("SELECT id, title, body FROM rr_documents ORDER BY id LIMIT 1")).rows[0]!;
      const during = await runCli(["search", db2.url, loaded.body, "-k", "1", "--json"]);
      expect(during.code, during.stderr).toBe(0);
      expect(during.stderr).toContain("the HNSW index is not built yet");
      expect((JSON.parse(during.stdout) as { hits: { id: string }[] }[])[0]!.hits[0]!.id).toBe(loaded.id);

      const rescue = await runCli([...args.slice(0, -1), "--json"]);
      expect(rescue.code, rescue.stderr).toBe(0);
      const summary = JSON.parse(rescue.stdout) as { documents: number; takenOver: number; indexBuildSeconds?: number };
      expect(summary.documents).toBe(docs.length);
      expect(summary.takenOver).toBe(1);
      // The run that completed the job built the index.
      expect(typeof summary.indexBuildSeconds).toBe("number");
      expect(await indexState()).toEqual({ index: "rr_documents_hnsw", deferred: null });
      const chunk = (await client.query<{ state: string; worker: string; attempts: number }>("SELECT state, worker, attempts FROM rr_index_chunks WHERE chunk = $1", [held[0]!.chunk])).rows[0]!;
      expect(chunk.state).toBe("done");
      expect(chunk.worker).not.toBe(held[0]!.worker);
      expect(chunk.attempts).toBe(2);
      const n = (await client.query<{ n: string; distinct: string }>("SELECT count(*) AS n, count(DISTINCT id) AS distinct FROM rr_documents")).rows[0]!;
      expect(Number(n.n)).toBe(docs.length);
      expect(Number(n.distinct)).toBe(docs.length);
      // Vectors are the base model's: a document's own title finds it first.
      const s = await runCli(["search", db2.url, "Killed worker test document number 41 about topic 6.", "--exact", "-k", "1", "--json"]);
      expect(s.code, s.stderr).toBe(0);
      expect((JSON.parse(s.stdout) as { hits: { id: string }[] }[])[0]!.hits[0]!.id).toBe("k41");
    } finally {
      await client.end().catch(() => {});
      await db2.stop();
    }
  });
});
