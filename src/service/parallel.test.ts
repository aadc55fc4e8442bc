/**
 * The service on an engine with parallel encoder sessions (`serve --sessions 2`): search
 * batches run side by side, one per session, and every answer is the one a single-session
 * engine gives. Real engine, real ONNX sessions on worker threads, real HTTP.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetriever } from "../engine/router-retriever.js";
import type { SearchResult } from "../engine/types.js";
import { FIXTURE_DOCS, FIXTURE_RULE, makeFixture, type Fixture } from "../../test/support/engine.js";
import { serviceEngine, startService, type RunningService } from "./server.js";

let fx: Fixture;
let single: RouterRetriever;
let parallel: RouterRetriever;
let svc: RunningService;
let running = 0;
let mostRunning = 0;

beforeAll(async () => {
  fx = await makeFixture();
  const open = (store: string, sessions: number) =>
    RouterRetriever.open({ store, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, pilotDomains: fx.pilotDomains, sessions, onWarning: () => {} });
  single = await open(fx.storeDir, 1);
  parallel = await open(join(fx.root, "store-parallel"), 2);
  await single.addDocuments(FIXTURE_DOCS);
  await parallel.addDocuments(FIXTURE_DOCS);
  // The real engine's verbs, with its search batches counted while they run.
  const engine = serviceEngine(parallel);
  const searchBatch = async (q: readonly string[], k?: number): Promise<SearchResult[]> => {
    running++;
    mostRunning = Math.max(mostRunning, running);
    try {
      return await parallel.searchBatch(q, k);
    } finally {
      running--;
    }
  };
  svc = await startService({ ...engine, searchBatch }, { port: 0, readOnly: true, log: () => {}, batching: { maxWaitMs: 2, maxBatch: 32 } });
});

afterAll(async () => {
  await svc?.close();
  await single?.close();
  await parallel?.close();
  fx?.cleanup();
});

describe("service over parallel encoder sessions", () => {
  it("runs a search batch per session side by side, answering as a single-session engine", async () => {
    expect(single.parallelism).toBe(1);
    expect(parallel.parallelism).toBe(2);
    const health = await (await fetch(`${svc.url}/api/health`)).json();
    expect(health.service.batching.concurrency).toBe(2);

    const queries = ["python load json file", "mitochondria ATP", "cheap flights", "panel flutter", "reverse a linked list", "vitamin D", "bake bread", "BRCA1 mutation and breast cancer risk"];
    const asked = Array.from({ length: 4 }, () => queries).flat();
    const replies = await Promise.all(
      asked.map(async (query) => {
        const res = await fetch(`${svc.url}/api/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, k: 5 }) });
        expect(res.status).toBe(200);
        return (await res.json()) as SearchResult;
      }),
    );
    expect(mostRunning).toBe(2);
    const expected = await single.searchBatch(queries, 5);
    replies.forEach((r, i) => {
      const want = expected[i % queries.length]!;
      expect(r.expert, asked[i]).toBe(want.expert);
      expect(r.hits.map((h) => h.id)).toEqual(want.hits.map((h) => h.id));
      r.hits.forEach((h, j) => expect(h.score).toBeCloseTo(want.hits[j]!.score, 6));
    });
  });
});
