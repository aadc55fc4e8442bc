/**
 * Load benchmark for `routerretriever serve`, loopback only, bounded in requests and time.
 *
 *   npx tsx bench/service.ts [--seconds 20] [--max-requests 3000] [--configs "1:fp32;2:fp32;1:fp32:2"] [--k 10] [--rounds 1]
 *
 * Each config ("threads:precision[:sessions]": ORT intra-op threads per session, arithmetic,
 * and `serve --sessions`, parallel sessions on worker threads, default 1) gets its own server
 * and store; levels are interleaved
 * (every config runs 1 client, then every config 8, ...) so machine load falls on all alike,
 * and the table gives each config's throughput as a ratio to the first one's.
 * Starts the real CLI server in a child process over the committed demo corpus (600 documents)
 * with synthetic experts and pilots (bench/service-setup.ts), then, for 1, 8 and 32 concurrent
 * clients, sends POST /api/search with demo queries (seeded order) until the time or request
 * bound is hit. Reports throughput and p50/p99 latency per level and the server's micro-batch
 * sizes; any non-200 reply fails the run (exit 1). Writes bench/results/service.json.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot } from "../src/util/paths.js";
import { rng, shuffled } from "../src/util/random.js";
import { demoQueries, prepareDemoRouting, spawnServer } from "./service-setup.js";

const LEVELS = [1, 8, 32] as const;
const WARMUP = 16;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface LevelResult {
  clients: number;
  requests: number;
  errors: number;
  seconds: number;
  throughputPerSecond: number;
  latencyMs: { p50: number; p99: number; mean: number; max: number };
  meanBatchSize: number;
  batches: number;
  routedTo: Record<string, number>;
}

/** One timed run of one level against one server. */
interface LevelRun {
  readonly clients: number;
  readonly latencies: readonly number[];
  readonly errors: number;
  readonly seconds: number;
  readonly batches: number;
  readonly queries: number;
  readonly routedTo: Readonly<Record<string, number>>;
}

interface BatchStats {
  batches: number;
  queries: number;
}

async function batchStats(url: string): Promise<BatchStats> {
  const h = (await (await fetch(`${url}/api/health`)).json()) as { service: { batching: BatchStats } };
  return h.service.batching;
}

async function runLevel(url: string, clients: number, queries: readonly string[], k: number, seconds: number, maxRequests: number): Promise<LevelRun> {
  const latencies: number[] = [];
  const routedTo: Record<string, number> = {};
  let errors = 0;
  let issued = 0;
  let next = 0;
  const firstErrors: string[] = [];
  const before = await batchStats(url);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (issued < maxRequests && performance.now() < deadline) {
      issued++;
      const query = queries[next++ % queries.length]!;
      const start = performance.now();
      try {
        const res = await fetch(`${url}/api/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, k }) });
        const body = (await res.json()) as { expert?: string; hits?: unknown[]; error?: { code: string; message: string } };
        if (res.status !== 200 || !Array.isArray(body.hits)) throw new Error(`${res.status} ${body.error?.code}: ${body.error?.message}`);
        latencies.push(performance.now() - start);
        routedTo[body.expert!] = (routedTo[body.expert!] ?? 0) + 1;
      } catch (err) {
        errors++;
        if (firstErrors.length < 3) firstErrors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  const after = await batchStats(url);
  if (firstErrors.length > 0) console.error(`errors at ${clients} clients: ${firstErrors.join(" | ")}`);
  return { clients, latencies, errors, seconds: elapsed, batches: after.batches - before.batches, queries: after.queries - before.queries, routedTo };
}

/** A level's runs (one per round) as one result: throughput over their summed time. */
function summarize(runs: readonly LevelRun[]): LevelResult {
  const sorted = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 10) / 10;
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const errors = runs.reduce((a, r) => a + r.errors, 0);
  const batches = runs.reduce((a, r) => a + r.batches, 0);
  const routedTo: Record<string, number> = {};
  for (const r of runs) for (const [e, n] of Object.entries(r.routedTo)) routedTo[e] = (routedTo[e] ?? 0) + n;
  return {
    clients: runs[0]!.clients,
    requests: sorted.length + errors,
    errors,
    seconds: round(seconds),
    throughputPerSecond: round(sorted.length / seconds),
    latencyMs: {
      p50: round(percentile(sorted, 50)),
      p99: round(percentile(sorted, 99)),
      mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
      max: round(sorted[sorted.length - 1] ?? NaN),
    },
    meanBatchSize: round(runs.reduce((a, r) => a + r.queries, 0) / Math.max(1, batches)),
    batches,
    routedTo,
  };
}

interface Config {
  readonly threads: number;
  readonly precision: string;
  readonly sessions: number;
}

const label = (c: Config): string => `${c.threads}:${c.precision}:${c.sessions}`;

function parseConfigs(): Config[] {
  const i = process.argv.indexOf("--configs");
  const cores = availableParallelism();
  const spec = i >= 0 ? process.argv[i + 1]! : `1:fp32;${cores}:fp32;1:fp32:${cores}`;
  return spec.split(";").map((c) => {
    const [t, p, n] = c.split(":");
    const threads = Number(t);
    const sessions = Number(n ?? "1");
    if (!Number.isInteger(threads) || threads <= 0 || (p !== "fp32" && p !== "int8") || !Number.isInteger(sessions) || sessions <= 0) {
      throw new Error(`--configs: "${c}" is not threads:fp32|int8[:sessions]`);
    }
    return { threads, precision: p, sessions };
  });
}

async function main(): Promise<void> {
  const seconds = arg("--seconds", 20);
  const maxRequests = arg("--max-requests", 3000);
  const configs = parseConfigs();
  const rounds = arg("--rounds", 1);
  const k = arg("--k", 10);
  const loadAtStart = Math.round(loadavg()[0]! * 100) / 100;
  const dir = mkdtempSync(join(tmpdir(), "rr-bench-service-"));
  const servers: Awaited<ReturnType<typeof spawnServer>>[] = [];
  try {
    const queries = shuffled(demoQueries().map((q) => q.text), rng(7));
    for (const [ci, c] of configs.entries()) {
      console.error(`config ${label(c)}: preparing synthetic experts and pilots ...`);
      const setup = await prepareDemoRouting(join(dir, String(ci)));
      console.error("starting the server (indexes the demo corpus on first run) ...");
      const server = await spawnServer(
        ["--store", setup.storeDir, "--experts", setup.expertsDir, "--pilots", setup.pilotsPath, "--corpus", setup.corpusPath, "--port", "0", "--read-only", "--threads", String(c.threads), "--precision", c.precision, "--sessions", String(c.sessions)],
        (line) => {
          if (!line.startsWith("indexing")) console.error(`  server: ${line}`);
        },
      );
      servers.push(server);
      if (!/^http:\/\/(127\.|\[::1\])/.test(server.url)) throw new Error(`refusing to load a non-loopback server: ${server.url}`);
      await runLevel(server.url, 4, queries, k, 60, WARMUP);
    }

    // Round after round, every level, every config in turn: a change in the machine's load
    // falls on all configs alike.
    const runs = configs.map(() => LEVELS.map((): LevelRun[] => []));
    for (let r = 0; r < rounds; r++) {
      for (const [li, clients] of LEVELS.entries()) {
        for (const [ci, c] of configs.entries()) {
          console.error(`round ${r + 1}/${rounds}: ${label(c)}, ${clients} concurrent client(s): up to ${maxRequests} requests or ${seconds} s ...`);
          runs[ci]![li]!.push(await runLevel(servers[ci]!.url, clients, queries, k, seconds, maxRequests));
        }
      }
    }
    const results: (LevelResult & Config)[] = LEVELS.flatMap((_, li) => configs.map((c, ci) => ({ ...c, ...summarize(runs[ci]![li]!) })));

    const first = (clients: number): number => results.find((r) => r.clients === clients)!.throughputPerSecond;
    const table = [
      "| threads | precision | sessions | clients | requests | errors | throughput (req/s) | vs first config | p50 (ms) | p99 (ms) | mean batch |",
      "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...results.map((r) => `| ${r.threads} | ${r.precision} | ${r.sessions} | ${r.clients} | ${r.requests} | ${r.errors} | ${r.throughputPerSecond} | ${(r.throughputPerSecond / first(r.clients)).toFixed(2)}x | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${r.meanBatchSize} |`),
    ].join("\n");
    console.log(table);
    const out = {
      benchmark: "service",
      date: new Date().toISOString(),
      // The cores are shared with other jobs; the load average says how busy they were.
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version, loadAverage1mAtStart: loadAtStart, loadAverage1mAtEnd: Math.round(loadavg()[0]! * 100) / 100 },
      setup: {
        corpus: "demo/corpus.jsonl (600 documents: scifact, arguana, cosqa, cranfield)",
        queries: `demo/queries.jsonl (${queries.length} test queries, seeded order; arguana's are whole arguments, up to 256 tokens)`,
        experts: "random LoRA (rank 8, alpha 32, query+value) for scifact, arguana, cosqa; synthetic pilots from the demo queries",
        k,
        configs,
        batching: { maxWaitMs: 5, maxBatch: 32 },
        bounds: { secondsPerLevel: seconds, maxRequestsPerLevel: maxRequests, rounds },
      },
      results,
      table,
    };
    writeJsonAtomic(join(projectRoot, "bench", "results", "service.json"), out);
    console.error("wrote bench/results/service.json");
    if (results.some((r) => r.errors > 0)) {
      console.error("FAILED: some requests returned errors");
      process.exitCode = 1;
    }
  } finally {
    for (const server of servers) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
