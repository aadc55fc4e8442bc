/** Writes an experiment's outputs: Table 1 as markdown, per-query JSON, and the two SVG figures. */
import { join } from "node:path";
import { savePilotLibrary } from "../routing/persist.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { pct } from "../util/format.js";
import { pca2 } from "./pca.js";
import type { ExperimentResult } from "./run.js";
import { routingSharesSvg, scatterSvg, type ScatterPoint } from "./svg.js";

function mean(xs: readonly number[]): number | undefined {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
}


/** Datasets as columns, systems as rows, averages over the with-expert and no-expert groups. */
export function table1(r: ExperimentResult): string {
  const noExpert = r.datasets.filter((d) => !r.withExpert.includes(d));
  const header = [...r.withExpert, "Avg (expert)", ...noExpert, "Avg (no expert)", "Avg (all)"];
  const lines = [`| system | ${header.join(" | ")} |`, `| --- | ${header.map(() => "---:").join(" | ")} |`];
  for (const s of r.systems) {
    const v = (ds: readonly string[]) => ds.map((d) => s.ndcg[d]);
    const cells = [
      ...v(r.withExpert).map(pct),
      pct(mean(v(r.withExpert).filter((x): x is number => x !== undefined))),
      ...v(noExpert).map(pct),
      pct(mean(v(noExpert).filter((x): x is number => x !== undefined))),
      pct(mean(v(r.datasets).filter((x): x is number => x !== undefined))),
    ];
    lines.push(`| ${s.system} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

export function pilotTable(r: ExperimentResult): string {
  const lines = ["| domain | pilot queries from | expert | queries in group |", "| --- | --- | --- | ---: |"];
  for (const p of r.library.pilots) lines.push(`| ${p.domain} | ${r.pilotSources[p.domain] ?? "?"} | ${p.expert} | ${p.size} |`);
  return lines.join("\n");
}

/** Every router setting tried: dev (where the choice is made) beside test (reported only). */
export function selectionTable(r: ExperimentResult): string {
  const avg = (x: Record<string, number>): string => pct(mean(Object.values(x)));
  const lines = [
    "| setting | dev seen | dev unseen | dev objective | test seen | test unseen |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  const chosen = r.selection.chosen.name;
  for (const x of [...r.selection.results].sort((a, b) => b.objective - a.objective)) {
    lines.push(`| ${x.name === chosen ? `**${x.name}** (chosen)` : x.name} | ${avg(x.dev.seen)} | ${avg(x.dev.unseen)} | ${pct(x.objective)} | ${avg(x.test.seen)} | ${avg(x.test.unseen)} |`);
  }
  return lines.join("\n");
}

/** The chosen setting per dataset, dev and test, seen and unseen. */
export function chosenTable(r: ExperimentResult): string {
  const c = r.selection.chosen;
  const lines = [`| split | ${r.datasets.join(" | ")} |`, `| --- | ${r.datasets.map(() => "---:").join(" | ")} |`];
  for (const [label, x] of [["dev, seen", c.dev.seen], ["dev, unseen", c.dev.unseen], ["test, seen", c.test.seen], ["test, unseen", c.test.unseen]] as const) {
    lines.push(`| ${label} | ${r.datasets.map((d) => pct(x[d])).join(" | ")} |`);
  }
  return lines.join("\n");
}

export function softFormsTable(r: ExperimentResult): string {
  if (r.softForms.length === 0) return "(no soft setting was tried)";
  const lines = [`| form | split | ${r.datasets.join(" | ")} | Avg |`, `| --- | --- | ${r.datasets.map(() => "---:").join(" | ")} | ---: |`];
  for (const f of r.softForms) {
    for (const [split, x] of [["dev", f.dev], ["test", f.test]] as const) {
      lines.push(`| ${f.form} | ${split} | ${r.datasets.map((d) => pct(x[d])).join(" | ")} | ${pct(mean(r.datasets.map((d) => x[d]!)))} |`);
    }
  }
  return lines.join("\n");
}

export function countsTable(r: ExperimentResult): string {
  const lines = ["| dataset | pilot queries (training) | dev queries | test queries |", "| --- | ---: | ---: | ---: |"];
  for (const d of r.datasets) lines.push(`| ${d} | ${r.counts[d]!.pilots} | ${r.counts[d]!.dev} | ${r.counts[d]!.test} |`);
  return lines.join("\n");
}

export function writeExperiment(outDir: string, r: ExperimentResult, command: string): void {
  const md = [
    "# RouterRetriever on our datasets: nDCG@10 (x100), BEIR test splits",
    "",
    `Produced by: \`${command}\``,
    "",
    table1(r),
    "",
    "Candidates for routing: " + r.candidates.join(", ") + ". Routers choose from base embeddings; oracles are upper bounds. " +
      `"${"RouterRetriever"}" is the setting chosen on dev (${r.selection.chosen.name}); the paper's rule is its own row.`,
    "",
    "## Choosing the router on dev",
    "",
    "Every setting is scored on a dev split carved from each domain's training queries (the same hold-out train-expert used, so the experts never trained on it), " +
      "twice: *seen* (the full pilot library) and *unseen* (the domain's pilots and its own expert left out, so it stands for a domain the library has never seen; " +
      "a good router stays with the base there). The objective is the mean of the two six-domain averages on dev. The test columns are computed the same way " +
      "and are only reported. Soft settings are scored on dev with the embedding mix (a).",
    "",
    selectionTable(r),
    "",
    "The chosen setting per dataset:",
    "",
    chosenTable(r),
    "",
    "## Soft routing: mixing embeddings (a) vs mixing LoRA deltas inside the encoder (b)",
    "",
    softFormsTable(r),
    "",
    "## Queries",
    "",
    countsTable(r),
    "",
    `Pilot library from all of them (Algorithm 1): ${r.pilotSeconds.toFixed(0)} s on this machine (encoding every training query with every candidate and scoring it).`,
    "",
    "## Pilot library",
    "",
    pilotTable(r),
    "",
    "Figures: routing.svg (where each dataset's queries went, RouterRetriever vs InstanceOracle), projection.svg (PCA of test-query base embeddings and pilots).",
    "",
  ].join("\n");
  writeFileAtomic(join(outDir, "table1.md"), md);
  // The library alone is what a service needs to route; the labels let it add experts later.
  savePilotLibrary(join(outDir, "pilots.json"), r.library);
  savePilotLibrary(join(outDir, "pilots-with-labels.json"), r.library, r.labels);
  writeJsonAtomic(join(outDir, "results.json"), {
    datasets: r.datasets,
    withExpert: r.withExpert,
    candidates: r.candidates,
    systems: r.systems,
    pilots: r.library.pilots.map((p) => ({ expert: p.expert, domain: p.domain, size: p.size })),
    pilotSources: r.pilotSources,
    perQuery: r.perQuery,
  });

  const rr = r.systems.find((s) => s.system === "RouterRetriever");
  writeJsonAtomic(join(outDir, "router-selection.json"), {
    chosen: r.selection.chosen.setting,
    chosenName: r.selection.chosen.name,
    bestHard: r.selection.chosenHard.setting,
    results: r.selection.results,
    softForms: r.softForms,
    counts: r.counts,
    pilotSeconds: r.pilotSeconds,
  });
  const io = r.systems.find((s) => s.system === "InstanceOracle");
  if (rr?.routing && io?.routing) {
    const rows = r.datasets.map((d) => ({ dataset: d, bars: [{ system: "RouterRetriever", counts: rr.routing![d] ?? {} }, { system: "InstanceOracle", counts: io.routing![d] ?? {} }] }));
    writeFileAtomic(join(outDir, "routing.svg"), routingSharesSvg(rows, r.candidates, "Where each dataset's test queries were routed"));
  }

  const pts = [...r.projectionSample.map((s) => s.vector), ...r.library.pilots.map((p) => p.vector)];
  const dims = pts[0]?.length ?? 0;
  if (dims > 0) {
    const flat = new Float32Array(pts.length * dims);
    pts.forEach((v, i) => flat.set(v, i * dims));
    const xy = pca2(flat, pts.length, dims);
    const points: ScatterPoint[] = pts.map((_, i) => {
      const isPilot = i >= r.projectionSample.length;
      const pilot = isPilot ? r.library.pilots[i - r.projectionSample.length]! : undefined;
      return { x: xy[2 * i]!, y: xy[2 * i + 1]!, group: pilot ? pilot.domain : r.projectionSample[i]!.dataset, ...(pilot ? { label: pilot.expert } : {}) };
    });
    writeFileAtomic(join(outDir, "projection.svg"), scatterSvg(points, r.datasets, "Test queries (dots) and pilots (triangles), base embeddings, PCA"));
  }
}
