/**
 * Time from a folder of documents to a routable expert, as a user runs it (issue 13): N
 * documents of a BEIR corpus written as Markdown files ("# title" then the text), then
 * `routerretriever add-domain FOLDER --name ... --store ... --experts ... --pilots ...` in a
 * child process on a fresh store beside a copy of the demo's experts and pilot library. Wall
 * clock from spawn to exit (model load included) and the command's own per-stage seconds.
 *
 *   npx tsx bench/add-domain-time.ts [--sizes 1000,5000] [--dataset scifact] [--threads 1] [--work /tmp/rr-add-domain-time]
 *
 * Appends one entry per size to bench/results/add-domain-time.json (with the load average
 * before and after: on a shared machine only the ratio between sizes within one run means much).
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadCorpus } from "../src/data/beir.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,5000" },
    dataset: { type: "string", default: "scifact" },
    threads: { type: "string", default: "1" },
    work: { type: "string", default: "/tmp/rr-add-domain-time" },
  },
});
const shared = sharedDatasetsDir();
if (!shared) throw new Error("../shared/datasets not found");
const corpus = await loadCorpus(join(shared, values.dataset!));
const outPath = join(projectRoot, "bench", "results", "add-domain-time.json");
const runs: unknown[] = existsSync(outPath) ? (JSON.parse(readFileSync(outPath, "utf8")) as unknown[]) : [];
const log = (m: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);

for (const n of values.sizes!.split(",").map(Number)) {
  if (!(Number.isInteger(n) && n > 1 && n <= corpus.length)) throw new Error(`--sizes: ${n} is not between 2 and the corpus's ${corpus.length} documents`);
  const root = join(values.work!, `n${n}`);
  rmSync(root, { recursive: true, force: true });
  const folder = join(root, "docs");
  mkdirSync(folder, { recursive: true });
  for (const d of corpus.slice(0, n)) writeFileSync(join(folder, `${d.id.replace(/[^A-Za-z0-9_.-]/g, "_")}.md`), `# ${d.title}\n\n${d.text}\n`);
  cpSync(join(projectRoot, "demo", "experts"), join(root, "experts"), { recursive: true });
  const name = `${values.dataset}${n}`;
  const args = [
    join(projectRoot, "bin", "routerretriever.js"), "add-domain", folder, "--name", name,
    "--store", join(root, "store"), "--experts", join(root, "experts"), "--pilots", join(projectRoot, "demo", "pilots.json"),
    "--cache", join(root, "cache"), "--threads", values.threads!, "--json", "--quiet",
  ];
  const load0 = loadavg();
  log(`${n} documents: add-domain (load ${load0.map((x) => x.toFixed(1)).join(" ")})`);
  const t0 = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("exit", (c) => resolve({ code: c, stdout: out, stderr: err }));
  });
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`add-domain exited with ${code}: ${stderr}`);
  const res = JSON.parse(stdout) as { seconds: Record<string, number>; training: unknown; evidence: unknown; expert: { routable: boolean; pilots: number } };
  const entry = {
    at: new Date().toISOString(),
    command: `npx tsx bench/add-domain-time.ts --sizes ${values.sizes} --dataset ${values.dataset} --threads ${values.threads}`,
    documents: n,
    dataset: values.dataset,
    threads: Number(values.threads),
    wallSeconds: wall,
    stageSeconds: res.seconds,
    routable: res.expert.routable,
    pilots: res.expert.pilots,
    training: res.training,
    evidence: res.evidence,
    loadAverage: { before: load0, after: loadavg() },
  };
  log(`${n} documents: ${wall.toFixed(0)} s wall, stages ${JSON.stringify(res.seconds)}`);
  runs.push(entry);
  mkdirSync(join(projectRoot, "bench", "results"), { recursive: true });
  writeJsonAtomic(outPath, runs);
  rmSync(root, { recursive: true, force: true });
}
