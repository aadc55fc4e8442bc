/**
 * Two facts behind RoutingRule.expertShare and the split margins (README, "Why the margins split"):
 *  1. each expert's mean nDCG@10 gain over the base on its own domain, as the labelled pilot
 *     library records it (training queries the expert learned from) and on held-out dev and test;
 *  2. each expert blended with the base inside the encoder (its LoRA delta x share, one pass),
 *     routed perfectly to its own domain's dev and test queries, for shares 0.8 to 1.
 * Reads the dev/test sets bench/router-library.ts caches (run it first) and the experiment's
 * labels (results/experiment/pilots-with-labels.json, written by `routerretriever experiment`).
 *
 *   npx tsx bench/expert-share.ts [--threads 2]
 *
 * Writes bench/results/expert-share.json.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Qrels } from "../src/data/beir.js";
import { loadBeirDataset } from "../src/data/beir.js";
import { ignoreIdenticalIdsFor } from "../src/evaluation/evaluate.js";
import { mean, scoreDecisions, type EvalSet } from "../src/experiment/select.js";
import { ExpertEncoder } from "../src/experts/expert-encoder.js";
import { loadExpert } from "../src/experts/peft.js";
import { Encoder, loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { loadPilotLibrary } from "../src/routing/persist.js";
import { BASE, type CandidateScores } from "../src/routing/types.js";
import { writeJsonAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";
import { corpusVectors, defaultCacheDir } from "../src/vectors/encode-corpus.js";

const { values } = parseArgs({ options: { threads: { type: "string", default: "2" } } });
const root = sharedDatasetsDir();
const setsFile = join(defaultCacheDir(), "router-library-sets.json");
const labelsFile = join(projectRoot, "results", "experiment", "pilots-with-labels.json");
if (!root || !existsSync(setsFile) || !existsSync(labelsFile)) {
  console.error(`expert-share: needs ../shared/datasets, ${setsFile} (bench/router-library.ts) and ${labelsFile} (routerretriever experiment)`);
  process.exit(0);
}
const experts = ["scifact", "arguana", "cosqa"];
const shares = [0.8, 0.9, 0.95, 1];
const model = loadModel(defaultModelSpec());
const { labels } = loadPilotLibrary(labelsFile, model.spec.id);
interface RawSet { domain: string; queryIds: string[]; texts: string[]; vectors: Record<string, string>; table: Record<string, Record<string, number>>; qrels: Record<string, Record<string, number>> }
const raw = JSON.parse(readFileSync(setsFile, "utf8")) as { dev: RawSet[]; test: RawSet[] };
const f32 = (s: string): Float32Array => {
  const b = Buffer.from(s, "base64");
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const threads = Number(values.threads);
const baseEncoder = await Encoder.create(model, { threads });
const encoder = await ExpertEncoder.create(model, experts.map((id) => loadExpert(join(projectRoot, "results", "experts", id), model, { id })), { threads });
const gainOn = (table: CandidateScores, e: string): number => mean([...table.get(BASE)!.keys()].map((q) => table.get(e)!.get(q)! - table.get(BASE)!.get(q)!));
const out: Record<string, unknown> = {};
const pct = (x: number): string => (100 * x).toFixed(1);
for (const e of experts) {
  const own = labels!.labels.filter((l) => l.domain === e);
  const libraryGain = mean(own.map((l) => l.scores[e]! - l.scores[BASE]!));
  const index = (await corpusVectors(baseEncoder, (await loadBeirDataset(join(root, e), "test")).corpus)).index;
  const row: Record<string, unknown> = { libraryGain };
  for (const split of ["dev", "test"] as const) {
    const r = raw[split].find((x) => x.domain === e)!;
    const vectors = new Map(Object.entries(r.vectors).map(([c, s]) => [c, f32(s)]));
    const table: CandidateScores = new Map(Object.entries(r.table).map(([c, m]) => [c, new Map(Object.entries(m))]));
    const qrels: Qrels = new Map(Object.entries(r.qrels).map(([q, m]) => [q, new Map(Object.entries(m))]));
    const set: EvalSet = { domain: e, ownExpert: e, queryIds: r.queryIds, texts: r.texts, base: vectors.get(BASE)!, vectors, table, index, qrels, ignoreIdenticalIds: ignoreIdenticalIdsFor(e) };
    const byShare: Record<string, number> = {};
    for (const share of shares) {
      const decisions = r.queryIds.map(() => ({ expert: e, scores: {}, weights: share === 1 ? { [e]: 1 } : { [e]: share, [BASE]: 1 - share } }));
      const mixed = share === 1 ? undefined : await encoder.encodeMixed(r.texts, r.texts.map(() => ({ [e]: share })));
      byShare[share] = mean([...scoreDecisions(set, decisions, mixed ? (rows) => Float32Array.from(rows.flatMap((q) => [...mixed.subarray(q * index.dims, (q + 1) * index.dims)])) : undefined).values()]);
    }
    row[split] = { gain: gainOn(table, e), byShare };
    console.log(`${e} ${split}: gain over the base ${pct(gainOn(table, e))} (library ${pct(libraryGain)}); expert share ${shares.map((s) => `${s}: ${pct(byShare[s]!)}`).join(", ")}`);
  }
  out[e] = row;
}
await encoder.close();
await baseEncoder.close();
writeJsonAtomic(join(projectRoot, "bench", "results", "expert-share.json"), { shares, form: "encoder mix (b)", experts: out });
