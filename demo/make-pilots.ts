/**
 * Builds the demo's pilot library (demo/pilots.json) from the experiment's labelled library
 * (results/experiment/pilots-with-labels.json, written by `routerretriever experiment`): the same
 * candidates, tie rule and domains, with the labelled training queries sampled down to
 * --per-domain per domain (seeded) so the file stays small enough to ship, and saved WITH those
 * labels, because the default router ("knn") reads them and adding an expert later re-scores them.
 * The pilots (centroids) are recomputed from the kept labels, so file and labels always agree.
 *
 *   npx tsx demo/make-pilots.ts [--from results/experiment/pilots-with-labels.json] [--per-domain 250] [--seed 0]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultModelSpec } from "../src/model/spec.js";
import { loadPilotLibrary, savePilotLibrary } from "../src/routing/persist.js";
import { groupCounts, libraryFromLabels } from "../src/routing/pilots.js";
import { projectRoot } from "../src/util/paths.js";
import { rng, shuffled } from "../src/util/random.js";

const { values } = parseArgs({
  options: {
    from: { type: "string", default: join(projectRoot, "results", "experiment", "pilots-with-labels.json") },
    "per-domain": { type: "string", default: "250" },
    seed: { type: "string", default: "0" },
    out: { type: "string", default: join(projectRoot, "demo", "pilots.json") },
  },
});
const perDomain = Number(values["per-domain"]);
const { labels } = loadPilotLibrary(values.from!, defaultModelSpec().id);
if (!labels) throw new Error(`${values.from}: saved without labels; run \`routerretriever experiment\` first`);
const rand = rng(Number(values.seed));
const keep = new Set<string>();
for (const d of labels.domains) {
  const mine = labels.labels.filter((l) => l.domain === d.name);
  for (const l of shuffled(mine, rand).slice(0, perDomain)) keep.add(`${l.domain}\u0000${l.queryId}`);
}
// Label order is kept (the library is a pure function of it).
const kept = { ...labels, sampling: { ...labels.sampling, maxQueriesPerDomain: perDomain }, labels: labels.labels.filter((l) => keep.has(`${l.domain}\u0000${l.queryId}`)) };
savePilotLibrary(values.out!, libraryFromLabels(kept), kept);
console.log(`${values.out}: ${kept.labels.length} labelled queries`, groupCounts(kept));
