/**
 * The figure a user gets: `routerretriever index` with no flags, wall time including start-up,
 * (and with --precision int8, the opt-in), against the same job done with transformers.js (start its pipeline, encode the corpus in
 * batches of 32, mean-pool and normalise), on the same first N scifact documents. Each side runs
 * in its own process, alternating, `--rounds` times; best wall time per side is reported.
 *
 *   npx tsx bench/index-wall.ts [--docs 1500] [--rounds 2]
 *
 * The transformers.js side is bench/peer-index.ts, reading the model folder bench/encode.ts
 * writes (run bench/encode.ts once first).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadCorpus } from "../src/data/beir.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";

const { values } = parseArgs({ options: { docs: { type: "string", default: "1500" }, rounds: { type: "string", default: "2" } } });
const datasets = sharedDatasetsDir();
if (!datasets) {
  console.error("bench/index-wall: ../shared/datasets is absent; nothing to measure");
  process.exit(0);
}
const n = Number(values.docs);
const dir = mkdtempSync(join(tmpdir(), "rr-index-wall-"));
const corpusDir = join(dir, "scifact-head");
mkdirSync(corpusDir);
const docs = (await loadCorpus(join(datasets, "scifact"))).slice(0, n);
writeFileSync(join(corpusDir, "corpus.jsonl"), docs.map((d) => JSON.stringify({ _id: d.id, title: d.title, text: d.text })).join("\n") + "\n");

function wall(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: projectRoot, stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
  return (performance.now() - t0) / 1000;
}

const best = { ours: Infinity, int8: Infinity, peer: Infinity };
const load0 = loadavg()[0]!;
for (let r = 0; r < Number(values.rounds); r++) {
  rmSync(join(dir, "index"), { recursive: true, force: true });
  best.ours = Math.min(best.ours, wall(process.execPath, [join(projectRoot, "bin", "routerretriever.js"), "index", corpusDir, "--out", join(dir, "index"), "--quiet"]));
  rmSync(join(dir, "index"), { recursive: true, force: true });
  best.int8 = Math.min(best.int8, wall(process.execPath, [join(projectRoot, "bin", "routerretriever.js"), "index", corpusDir, "--out", join(dir, "index"), "--precision", "int8", "--quiet"]));
  best.peer = Math.min(best.peer, wall(process.execPath, ["--import", "tsx", join(projectRoot, "bench", "peer-index.ts"), corpusDir]));
}
const rows = [
  { job: "routerretriever index (no flags)", seconds: +best.ours.toFixed(1), docsPerSec: +(n / best.ours).toFixed(1), ratioToTransformersJs: +(best.peer / best.ours).toFixed(2) },
  { job: "routerretriever index --precision int8", seconds: +best.int8.toFixed(1), docsPerSec: +(n / best.int8).toFixed(1), ratioToTransformersJs: +(best.peer / best.int8).toFixed(2) },
  { job: "transformers.js 4.3.1 (fp32, cores threads, batches of 32)", seconds: +best.peer.toFixed(1), docsPerSec: +(n / best.peer).toFixed(1), ratioToTransformersJs: 1 },
];
console.table(rows);
console.log(`load average (1 min) ${load0.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`);
writeJsonAtomic(join(projectRoot, "bench", "results", "index-wall.json"), { date: new Date().toISOString(), docs: n, loadAverage: [load0, loadavg()[0]], rows });
rmSync(dir, { recursive: true, force: true });
