/**
 * POST /api/domains as a job, over real HTTP on the real engine: bad input is a plain 4xx
 * before any job exists, a good request answers 202 at once, /api/jobs/<id> shows the stages
 * with their counts until the expert is registered, and a second job waits its turn (409).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetriever } from "../engine/router-retriever.js";
import { FIXTURE_DOCS, makeFixture, type Fixture } from "../../test/support/engine.js";
import { addDomain, type AddDomainOptions } from "../workflows/add-domain.js";
import { serviceEngine, startService, type RunningService } from "./server.js";

const TOKEN = "test-token-domains-0123456789";
let fx: Fixture;
let rr: RouterRetriever;
let svc: RunningService;
let cacheDir: string;

const DOCS = [
  "Radial velocity detection of exoplanets around nearby stars",
  "Transit photometry of hot Jupiters with space telescopes",
  "Cosmic microwave background temperature anisotropies",
  "Type Ia supernovae as standard candles for cosmology",
  "Gravitational lensing by massive galaxy clusters",
  "Spiral density waves in the discs of galaxies",
  "Neutron star equation of state from pulsar masses",
  "Accretion discs around stellar mass black holes",
].map((title, i) => ({ id: `astro/${i}`, title, text: `${title}: a short abstract about this astronomy topic.` }));

async function call(method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const send = async () => {
    const res = await fetch(svc.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: JSON.parse(await res.text()) };
  };
  // Training shares this process's event loop; on a loaded machine a GET can meet a keep-alive
  // connection being closed (ECONNRESET) or a header timeout (408, no body). Like a browser
  // polling, retry an idempotent request, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      if (method !== "GET" || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

beforeAll(async () => {
  fx = await makeFixture();
  cacheDir = mkdtempSync(join(tmpdir(), "rr-domain-cache-"));
  rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, onWarning: () => {} });
  await rr.addDocuments(FIXTURE_DOCS);
  // The service passes no cacheDir; keep this test's vectors out of the user's cache.
  const engine = { ...serviceEngine(rr), addDomain: (o: AddDomainOptions) => addDomain(rr, { ...o, cacheDir }) };
  svc = await startService(engine, { port: 0, token: TOKEN, log: () => {} });
}, 600_000);

afterAll(async () => {
  await svc?.close();
  await rr?.close();
  fx?.cleanup();
  rmSync(cacheDir, { recursive: true, force: true });
});

describe("POST /api/domains and /api/jobs", () => {
  it("refuses bad requests before starting anything", async () => {
    expect((await call("POST", "/api/domains", { name: "astro", documents: DOCS }, null)).status).toBe(401);
    const cases: Array<[unknown, number, RegExp]> = [
      [{ name: "../x", documents: DOCS }, 400, /not a plain folder name/],
      [{ name: "astro", documents: "no" }, 400, /documents must be an array/],
      [{ name: "astro", documents: DOCS, epoch: 1 }, 400, /unknown field "epoch"/],
      [{ name: "astro", documents: DOCS, epochs: 0 }, 400, /epochs must be an integer/],
      [{ name: "astro", documents: [{ id: "a", text: 3 }, DOCS[0]] }, 400, /documents\[0\]\.text must be a string/],
      [{ name: "scifact", documents: DOCS }, 409, /already active/],
      [{ name: "astro", documents: [{ ...DOCS[0]!, id: "sci-1" }, DOCS[1]] }, 409, /"sci-1" is already in the store with other text/],
    ];
    for (const [body, status, message] of cases) {
      const r = await call("POST", "/api/domains", body);
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(r.body.error.message).toMatch(message);
    }
    expect((await call("GET", "/api/jobs")).body.jobs).toEqual([]);
    expect((await call("GET", "/api/jobs/nope")).status).toBe(404);
  });

  it("runs a good request as a job, one at a time, with progress until the expert is routable or says why not", async () => {
    const started = await call("POST", "/api/domains", { name: "astro", documents: DOCS, epochs: 1, evidenceQueries: 20 });
    expect(started.status).toBe(202);
    const id = started.body.job.id as string;
    expect(started.body.job).toMatchObject({ kind: "add-domain", name: "astro", state: "running" });
    const second = await call("POST", "/api/domains", { name: "astro2", documents: DOCS.map((d) => ({ ...d, id: `2/${d.id}` })) });
    expect(second.status).toBe(409);
    expect(second.body.error.message).toMatch(/still running/);

    const stages = new Set<string>();
    let job = started.body.job;
    const deadline = Date.now() + 1_200_000;
    while (job.state === "running" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      job = (await call("GET", `/api/jobs/${id}`, undefined, null)).body.job;
      stages.add(job.stage);
      expect(job.done).toBeLessThanOrEqual(Math.max(job.total, job.done));
    }
    expect(job.state, JSON.stringify(job.error)).toBe("done");
    expect([...stages].filter((s) => ["documents", "train", "evidence", "register"].includes(s)).length).toBeGreaterThanOrEqual(2);
    expect(job.log.some((l: string) => /^documents: 8 documents added/.test(l))).toBe(true);
    expect(job.log.some((l: string) => /^train: epoch 1: dev nDCG@10/.test(l))).toBe(true);
    expect(job.log.some((l: string) => /^evidence: 8 pseudo-queries scored/.test(l))).toBe(true);
    expect(job.result.expert).toMatchObject({ name: "astro", active: true });
    expect(job.result.documents).toMatchObject({ added: 8, total: FIXTURE_DOCS.length + 8 });
    const experts = (await call("GET", "/api/experts")).body.experts;
    expect(experts.find((e: { name: string }) => e.name === "astro")).toMatchObject({ active: true, pilots: job.result.expert.pilots });
    expect((await call("GET", "/api/jobs")).body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
    const health = (await call("GET", "/api/health")).body;
    expect(health.documents).toBe(FIXTURE_DOCS.length + 8);
  }, 1_260_000);
});
