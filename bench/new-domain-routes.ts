/**
 * Which of the demo's own queries change route when a new domain's expert is added with its
 * routing evidence (issue 13), without serving anything: the demo's pilot library, the new
 * expert's routing.json (as `add-domain` writes it) and the base embeddings of the demo queries
 * and of the new domain's test queries. Routes (the largest-weight candidate) before and after,
 * under the engine's library (routing/evidence.ts, engine/components/pilot-state.ts: the file's
 * pilots of the domain superseded by the evidence's) and under two alternatives, each with the
 * default rule and with its aggregate switched to "max"; also the evidence under the other tie rule.
 *
 *   npx tsx bench/new-domain-routes.ts --evidence EXPERT_DIR/routing.json [--test-queries cisi] [--threads 1]
 *   npx tsx bench/new-domain-routes.ts --make DIR [--threads 1]
 *
 * --make first makes the evidence as the served-demo e2e test does (src/service/own-domain.test.ts:
 * 600 CISI documents, those judged for its test queries first, then a seeded sample), through
 * addDomain on the demo's experts and pilot library in DIR (an hour on a loaded 2-core machine),
 * and then uses DIR/experts/cisi/routing.json; a DIR made before is reused.
 * Prints a table (markdown) on stdout; nothing else is written. RR_SHOW_MOVED=1 also lists each rerouted
 * demo query on stderr (text, route before and after, weights).
 */
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadBeirDataset } from "../src/data/beir.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { evidenceLibrary, loadRoutingEvidence, mergeLibraries } from "../src/routing/evidence.js";
import { loadPilotLibrary } from "../src/routing/persist.js";
import { libraryFromLabels, type TieRule } from "../src/routing/pilots.js";
import { describeRule, route } from "../src/routing/router.js";
import { RouterRetriever } from "../src/engine/router-retriever.js";
import { addDomain } from "../src/workflows/add-domain.js";
import { rng, shuffled } from "../src/util/random.js";
import { evidenceLabels } from "../src/routing/evidence.js";
import { DEFAULT_RULE, type PilotLibrary, type RoutingRule } from "../src/routing/types.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";

const { values } = parseArgs({
  options: {
    evidence: { type: "string" },
    make: { type: "string" },
    "test-queries": { type: "string", default: "cisi" },
    pilots: { type: "string", default: join(projectRoot, "demo", "pilots.json") },
    threads: { type: "string", default: "1" },
  },
});
const shared = sharedDatasetsDir();
if (!shared) throw new Error("../shared/datasets not found");
if (values.make) {
  const dir = values.make;
  const evidence = join(dir, "experts", "cisi", "routing.json");
  if (!existsSync(evidence)) {
    if (!existsSync(join(dir, "experts"))) cpSync(join(projectRoot, "demo", "experts"), join(dir, "experts"), { recursive: true });
    const rr = await RouterRetriever.open({ store: join(dir, "store"), expertsDir: join(dir, "experts"), pilotsPath: join(projectRoot, "demo", "pilots.json"), threads: Number(values.threads) });
    const cisi = await loadBeirDataset(join(shared, "cisi"), "test");
    const judged = new Set([...cisi.qrels.values()].flatMap((m) => [...m].filter(([, g]) => g > 0).map(([id]) => id)));
    const ordered = [...cisi.corpus.filter((d) => judged.has(d.id)), ...shuffled(cisi.corpus.filter((d) => !judged.has(d.id)), rng(13))];
    const documents = ordered.slice(0, 600).map((d) => ({ id: `cisi/${d.id}`, title: d.title, text: d.text }));
    const res = await addDomain(rr, { name: "cisi", documents, threads: Number(values.threads), onProgress: (p) => p.message && process.stderr.write(`${p.stage}: ${p.message}\n`) });
    process.stderr.write(`addDomain seconds ${JSON.stringify(res.seconds)}\n`);
    await rr.close();
  }
  values.evidence = evidence;
}
if (!values.evidence) throw new Error("--evidence EXPERT_DIR/routing.json or --make DIR is required");
const model = loadModel(defaultModelSpec());
const lib = loadPilotLibrary(values.pilots!, model.spec.id).library;
const ev = loadRoutingEvidence(values.evidence, model.spec.id, model.spec.config.hiddenSize);
const demo = readFileSync(join(projectRoot, "demo", "queries.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { text: string });
const test = await loadBeirDataset(join(shared, values["test-queries"]!), "test");
const enc = await Encoder.create(model, { threads: Number(values.threads) });
const demoVecs = await enc.encode(demo.map((q) => q.text));
const testVecs = await enc.encode(test.queries.map((q) => q.text));
await enc.close();

const allowed = new Set([...lib.experts.filter((e) => e !== "base"), ev.expert]);
const count = (xs: readonly string[]): Record<string, number> => xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});
const fmt = (m: Record<string, number>): string => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ") || "none";
const superseded: PilotLibrary = { ...lib, domains: lib.domains.filter((d) => d !== ev.domain), pilots: lib.pilots.filter((p) => p.domain !== ev.domain) };
// The evidence's every group, as if its base-vs-expert comparison were a full labelling (the engine before issue 13's fix).
const allGroups = (tie: TieRule): PilotLibrary => libraryFromLabels(evidenceLabels(ev, allowed, tie));
const expertOnly = (l: PilotLibrary, domain: string): PilotLibrary => ({ ...l, domains: [domain], pilots: l.pilots.filter((p) => p.expert === ev.expert).map((p) => ({ ...p, domain })) });
const variants: [string, PilotLibrary][] = [
  ["engine: file's domain pilots superseded, the expert's pilot (evidenceLibrary)", mergeLibraries(superseded, [evidenceLibrary(ev, allowed)])!],
  ["file's domain pilots superseded, every evidence group (base-first ties: the engine before)", mergeLibraries(superseded, [allGroups("base-first")])!],
  ["file's domain pilots superseded, every evidence group (own-expert ties)", mergeLibraries(superseded, [allGroups("own-expert-first")])!],
  ["file's pilots kept, the expert's pilot added", mergeLibraries(lib, [expertOnly(allGroups("own-expert-first"), `${ev.domain} (evidence)`)])!],
];
const rules: [string, RoutingRule][] = [
  [describeRule(DEFAULT_RULE), DEFAULT_RULE],
  [describeRule({ ...DEFAULT_RULE, aggregate: "max" }), { ...DEFAULT_RULE, aggregate: "max" }],
];
const lines = [
  `New expert "${ev.expert}" (domain ${ev.domain}, ${ev.items.length} ${ev.querySource} queries in its evidence); ${demo.length} demo queries; ${test.queries.length} ${values["test-queries"]} test queries.`,
  "",
  "| router | pilots after the add | demo queries rerouted | of which to the new expert | new expert in a demo query's mix | test queries routed |",
  "| --- | --- | ---: | ---: | ---: | --- |",
];
for (const [rn, rule] of rules) {
  const before = route(lib, demoVecs, rule);
  for (const [vn, l] of variants) {
    const after = route(l, demoVecs, rule);
    const moved = before.flatMap((d, i) => (d.expert !== after[i]!.expert ? [after[i]!.expert] : []));
    if (process.env.RR_SHOW_MOVED) before.forEach((d, i) => d.expert !== after[i]!.expert && console.error(`moved: ${JSON.stringify(demo[i])} ${d.expert} -> ${after[i]!.expert} ${JSON.stringify(after[i]!.weights)}`));
    const inMix = after.filter((d) => (d.weights?.[ev.expert] ?? (d.expert === ev.expert ? 1 : 0)) > 0).length;
    lines.push(`| ${rn} | ${vn} | ${moved.length} | ${moved.filter((e) => e === ev.expert).length} | ${inMix} | ${fmt(count(route(l, testVecs, rule).map((d) => d.expert)))} |`);
  }
}
process.stdout.write(lines.join("\n") + "\n");
