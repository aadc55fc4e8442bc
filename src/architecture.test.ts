/**
 * The import rule of src/, read from the imports themselves (TypeScript's own pre-processor, so
 * re-exports and dynamic imports count too). Folders form a ladder; a folder may import only
 * folders on lower rungs:
 *
 *   errors.ts < util < graph < model < experts < data < vectors < evaluation | store < routing
 *     < training | engine | experiment (siblings: none imports another) < workflows < service
 *     < cli | index.ts (the library API)
 *
 * workflows/ holds the work that needs both the engine and the trainer (adding a domain), so
 * data, routing and engine never import training. Training is imported only by workflows, cli
 * and the library API; experiment only by cli and the library API; nothing imports cli or the
 * library API; and product code never imports the test fixtures in test/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = dirname(fileURLToPath(import.meta.url));

/** Rung of each part of src/: a folder name, or a top-level file. */
const RUNG: Readonly<Record<string, number>> = {
  "errors.ts": 0,
  util: 1,
  graph: 2,
  model: 3,
  experts: 4,
  data: 5,
  vectors: 6,
  evaluation: 7,
  store: 7,
  routing: 8,
  training: 9,
  engine: 9,
  experiment: 9,
  workflows: 10,
  service: 11,
  cli: 12,
  "index.ts": 12,
};

/** Parts that only the named parts may import (besides the rung order). */
const IMPORTED_ONLY_BY: Readonly<Record<string, readonly string[]>> = {
  training: ["workflows", "cli", "index.ts"],
  experiment: ["cli", "index.ts"],
};

export interface ImportEdge {
  /** Importing file, relative to src/ with "/" separators. */
  readonly from: string;
  /** The import specifier as written. */
  readonly specifier: string;
  /** Target relative to src/ ("../test/support/x.ts" when outside), or undefined for a package. */
  readonly to: string | undefined;
}

/** The part of src/ a path belongs to: its first folder, or the file itself at the top. */
function partOf(rel: string): string {
  return rel.split("/")[0]!;
}

/** Every rule the edges break, one line each (empty when the tree keeps the rule). */
export function violations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  for (const e of edges) {
    if (e.to === undefined) continue;
    const where = `${e.from} imports "${e.specifier}"`;
    if (e.to.startsWith("../")) {
      out.push(`${where}: product code must not import outside src/ (test fixtures live in test/support/)`);
      continue;
    }
    const a = partOf(e.from);
    const b = partOf(e.to);
    if (a === b) continue;
    const ra = RUNG[a];
    const rb = RUNG[b];
    if (ra === undefined) out.push(`${where}: ${a} has no rung in the import rule (add it to RUNG in architecture.test.ts)`);
    else if (rb === undefined) out.push(`${where}: ${b} has no rung in the import rule (add it to RUNG in architecture.test.ts)`);
    else if (rb >= ra) out.push(`${where}: ${a} (rung ${ra}) may import only lower rungs, and ${b} is rung ${rb}`);
    else if (IMPORTED_ONLY_BY[b] !== undefined && !IMPORTED_ONLY_BY[b].includes(a)) out.push(`${where}: only ${IMPORTED_ONLY_BY[b].join(", ")} may import ${b}`);
  }
  return out;
}

function productFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return productFiles(p);
    return d.name.endsWith(".ts") && !d.name.endsWith(".test.ts") && !d.name.endsWith(".d.ts") ? [p] : [];
  });
}

function edgesOf(file: string): ImportEdge[] {
  const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  const from = relative(SRC, file).split(sep).join("/");
  return info.importedFiles.map(({ fileName: specifier }) => {
    if (!specifier.startsWith(".")) return { from, specifier, to: undefined };
    const target = resolve(dirname(file), specifier).replace(/\.js$/, ".ts");
    return { from, specifier, to: relative(SRC, target).split(sep).join("/") };
  });
}

/** An edge as edgesOf reads it: `from` imports `to` (paths relative to src/) by its relative .js specifier. */
function edge(from: string, to: string): ImportEdge {
  const rel = relative(dirname(from), to).split(sep).join("/").replace(/\.ts$/, ".js");
  return { from, specifier: rel.startsWith(".") ? rel : `./${rel}`, to };
}

describe("the import rule", () => {
  const edges = productFiles(SRC).flatMap(edgesOf);

  it("reads the imports of every product file", () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges.some((e) => e.from === "cli/main.ts" && e.to !== undefined)).toBe(true);
    // The one place below the top that trains: the rule below lets it, and only it.
    expect(edges.some((e) => e.from === "workflows/add-domain.ts" && e.to === "training/trainer.ts")).toBe(true);
  });

  it("holds over src/", () => {
    expect(violations(edges)).toEqual([]);
  });

  it("names each kind of violation (so the check above can fail)", () => {
    const v = violations([
      edge("data/pairs.ts", "training/trainer.ts"),
      edge("routing/pilots.ts", "training/trainer.ts"),
      edge("engine/state.ts", "training/trainer.ts"),
      edge("service/http.ts", "training/trainer.ts"),
      edge("engine/index.ts", "cli/main.ts"),
      edge("engine/methods/add-expert.ts", "workflows/add-domain.ts"),
      edge("service/jobs.ts", "experiment/run.ts"),
      edge("engine/index.ts", "experiment/run.ts"),
      edge("model/encoder.ts", "index.ts"),
      edge("graph/ir.ts", "../test/support/graph.ts"),
      edge("newthing/x.ts", "util/random.ts"),
      edge("util/random.ts", "util/atomic.ts"),
      edge("workflows/add-domain.ts", "training/trainer.ts"),
      { from: "cli/main.ts", specifier: "commander", to: undefined },
    ]);
    expect(v).toHaveLength(11);
    expect(v[0]).toMatch(/^data\/pairs\.ts imports "\.\.\/training\/trainer\.js": data \(rung 5\) may import only lower rungs/);
    expect(v[3]).toMatch(/only workflows, cli, index\.ts may import training/);
    expect(v[4]).toMatch(/engine \(rung 9\) may import only lower rungs, and cli is rung 12/);
    expect(v[5]).toMatch(/engine \(rung 9\) may import only lower rungs, and workflows is rung 10/);
    expect(v[6]).toMatch(/only cli, index\.ts may import experiment/);
    expect(v[9]).toMatch(/must not import outside src/);
    expect(v[10]).toMatch(/newthing has no rung/);
  });
});
