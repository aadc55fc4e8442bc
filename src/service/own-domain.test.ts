/**
 * Bring your own domain, as a user would (issue 13; RR_REAL_DATA=1 RR_OWN_DOMAIN=1, needs ../shared/datasets):
 * the real `routerretriever serve` on the shipped demo (its corpus, experts and pilot library; a
 * fresh store and a copy of the experts folder), then, through the HTTP API only, a new
 * domain's documents (all 1,460 of CISI's, library and information science, a collection the demo
 * does not hold) go to POST /api/domains, which stores them, trains an expert on their
 * pseudo-queries and registers it with its routing evidence. CISI's own test queries (never
 * seen by any of this) must then be answered with the new expert in their mix and retrieve
 * better than the base model does on CISI alone, and the demo's own queries must keep their
 * routes. Route counts, the new expert's share and nDCG@10 are recorded.
 *
 * Under the default rule chosen on dev (base margin 0.1, soft top-2), the new expert's
 * pseudo-query evidence (gain ~0.06, most pseudo-queries tie) does not beat the margin, so the
 * base keeps the larger share of the mix and the expert a third; with the previous default (margin
 * 0.05) the expert was on top for 70 of 76. What a user is promised is the retrieval gain, so
 * that is what the test holds, beside the expert being in the mix.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBeirDataset } from "../data/beir.js";
import { evaluateRun } from "../evaluation/metrics.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../util/paths.js";
import { rng, shuffled } from "../util/random.js";

const datasets = sharedDatasetsDir();
// Opt-in on top of RR_REAL_DATA (RR_OWN_DOMAIN=1): it trains an expert on CISI's 1,460 documents, several
// minutes on 2 cores, too long for every CI run.
const enabled = process.env.RR_REAL_DATA === "1" && process.env.RR_OWN_DOMAIN === "1" && datasets !== undefined;
if (!enabled) console.warn(`own-domain end-to-end test skipped: ${datasets ? "set RR_REAL_DATA=1 RR_OWN_DOMAIN=1 to run it" : "../shared/datasets is absent"}`);

const TOKEN = "own-domain-e2e-token-0123456789";
// The whole collection: the demo's pilot library already holds pseudo-queries of every CISI
// document (the experiment's no-expert domain, scored by the old candidates only), and evidence
// from a 600-document sample sits among them too thinly to claim the domain's queries (34 of 76
// went to the new expert under the previous default rule, 2026-12-03; with the whole collection 70 of 76). RR_OWN_DOMAIN_DOCS
// takes a smaller sample. Each run records its counts in bench/results/own-domain-<docs>.json.
const NEW_DOCS = process.env.RR_OWN_DOMAIN_DOCS === undefined ? undefined : Number(process.env.RR_OWN_DOMAIN_DOCS);
let tmp: string;
let child: ChildProcess | undefined;
let url = "";
let stderr = "";

interface DemoQuery {
  readonly id: string;
  readonly domain: string;
  readonly text: string;
}

async function api(method: string, path: string, body?: unknown): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const send = () => fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const res = await send().catch((err: unknown) => (method === "GET" ? send() : Promise.reject(err)));
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

interface Answer {
  readonly expert: string;
  readonly weights: Readonly<Record<string, number>>;
  readonly hits: ReadonlyArray<{ readonly id: string; readonly score: number }>;
}

/** Each query's answer (route, mix, top 10), 8 requests in flight (the service micro-batches them). */
async function answers(queries: readonly string[]): Promise<Answer[]> {
  const out: Answer[] = new Array(queries.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < queries.length; i = next++) out[i] = (await api("POST", "/api/search", { query: queries[i], k: 10 })) as Answer;
    }),
  );
  return out;
}

async function routes(queries: readonly string[]): Promise<string[]> {
  return (await answers(queries)).map((a) => a.expert);
}

function counts(xs: readonly string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
}

describe.skipIf(!enabled)("bring your own domain to the served demo, over HTTP", () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "rr-own-domain-"));
    cpSync(join(projectRoot, "demo", "experts"), join(tmp, "experts"), { recursive: true });
    const args = [
      join(projectRoot, "bin", "routerretriever.js"), "serve",
      "--store", join(tmp, "store"), "--experts", join(tmp, "experts"),
      "--pilots", join(projectRoot, "demo", "pilots.json"), "--corpus", join(projectRoot, "demo", "corpus.jsonl"),
      "--port", "0", "--token", TOKEN, "--threads", "1", "--quiet",
    ];
    child = spawn(process.execPath, args, { env: { ...process.env, ROUTERRETRIEVER_CACHE: join(tmp, "cache") }, stdio: ["ignore", "ignore", "pipe"] });
    url = await new Promise<string>((resolve, reject) => {
      child!.stderr!.on("data", (b: Buffer) => {
        stderr += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child!.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
  }, 900_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("answers the new domain's queries with its new expert in the mix, better than the base; the demo's queries keep their routes", async () => {
    const demo = readFileSync(join(projectRoot, "demo", "queries.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as DemoQuery);
    const cisi = await loadBeirDataset(join(datasets!, "cisi"), "test");
    // The new domain: CISI's documents (all, or NEW_DOCS of them), those judged for its test queries first (so the
    // queries have their answers in the store), the rest a seeded sample.
    const judged = new Set([...cisi.qrels.values()].flatMap((m) => [...m].filter(([, g]) => g > 0).map(([id]) => id)));
    const ordered = [...cisi.corpus.filter((d) => judged.has(d.id)), ...shuffled(cisi.corpus.filter((d) => !judged.has(d.id)), rng(13))];
    const documents = ordered.slice(0, NEW_DOCS).map((d) => ({ id: `cisi/${d.id}`, title: d.title, text: d.text }));
    const cisiQueries = cisi.queries.map((q) => q.text);

    const health0 = await api("GET", "/api/health");
    const demoBefore = await routes(demo.map((q) => q.text));
    const cisiBefore = await answers(cisiQueries);

    const { job } = await api("POST", "/api/domains", { name: "cisi", documents });
    const stages = new Set<string>();
    let j = job;
    while (j.state === "running") {
      await new Promise((r) => setTimeout(r, 2000));
      j = (await api("GET", `/api/jobs/${j.id}`)).job;
      stages.add(j.stage);
    }
    expect(j.state, JSON.stringify(j.error)).toBe("done");
    expect(stages.has("train") || stages.has("evidence")).toBe(true);
    expect(j.result.expert).toMatchObject({ name: "cisi", active: true, routable: true });

    const health1 = await api("GET", "/api/health");
    expect(health1.documents).toBe(health0.documents + documents.length);
    const demoAfter = await routes(demo.map((q) => q.text));
    const cisiAfter = await answers(cisiQueries);
    const share = cisiAfter.map((a) => a.weights["cisi"] ?? 0);
    // Hits are stored as "cisi/<id>"; the qrels name CISI's own ids.
    const run = new Map(cisi.queries.map((q, i) => [q.id, cisiAfter[i]!.hits.filter((h) => h.id.startsWith("cisi/")).map((h) => ({ id: h.id.slice(5), score: h.score }))]));
    const routedNdcg = evaluateRun(cisi.qrels, run, { ks: [10], ignoreIdenticalIds: false }).mean["ndcg@10"]!;
    // The base model on CISI's corpus alone (`routerretriever eval`, committed with the precision
    // table); the served store also holds the demo's documents, which can only make it harder.
    const baseNdcg = (JSON.parse(readFileSync(join(projectRoot, "bench", "results", "precision-eval-fp32.json"), "utf8")) as Record<string, Record<string, number>>)["cisi"]!["ndcg@10"]!;

    const changed = demo.filter((_, i) => demoAfter[i] !== demoBefore[i]);
    const byDomain = (rs: readonly string[]) => Object.fromEntries([...new Set(demo.map((q) => q.domain))].map((d) => [d, counts(rs.filter((_, i) => demo[i]!.domain === d))]));
    const record = {
      at: new Date().toISOString(),
      command: `RR_REAL_DATA=1 RR_OWN_DOMAIN=1${NEW_DOCS === undefined ? "" : ` RR_OWN_DOMAIN_DOCS=${NEW_DOCS}`} npx vitest run src/service/own-domain.test.ts`,
      documents: documents.length,
      job: { seconds: j.result.seconds, training: j.result.training, evidence: j.result.evidence, pilots: j.result.expert.pilots },
      cisiTestQueries: {
        before: counts(cisiBefore.map((a) => a.expert)),
        after: counts(cisiAfter.map((a) => a.expert)),
        newExpertShare: { mean: share.reduce((a, b) => a + b, 0) / share.length, inMix: share.filter((w) => w > 0).length, atLeastHalf: share.filter((w) => w >= 0.5).length },
        ndcg10: { routed: routedNdcg, baseOnCisiAlone: baseNdcg },
      },
      demoQueries: { before: byDomain(demoBefore), after: byDomain(demoAfter), changed: changed.length, of: demo.length },
    };
    console.log(JSON.stringify(record, null, 1));
    writeJsonAtomic(join(projectRoot, "bench", "results", `own-domain-${documents.length}.json`), record);
    expect(cisiBefore.filter((a) => (a.weights["cisi"] ?? 0) > 0)).toHaveLength(0);
    expect(share.filter((w) => w > 0).length, "CISI queries with the new expert in their mix").toBeGreaterThanOrEqual(Math.ceil(0.9 * cisiQueries.length));
    expect(routedNdcg, "CISI nDCG@10 routed with the new expert vs the base on CISI alone").toBeGreaterThan(baseNdcg + 0.005);
    // A demo query keeps its route unless the new domain's evidence claims its neighbourhood (half
    // or more of its nearest labelled queries): with CISI's evidence that is at most a stray one,
    // e.g. an ArguAna argument about copyright (bench/new-domain-routes.ts, RR_SHOW_MOVED=1).
    expect(changed.length).toBeLessThanOrEqual(Math.floor(0.01 * demo.length));
  }, 1_800_000);
});
