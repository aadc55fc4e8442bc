/**
 * A small, fully real store for tests and the service benchmark: a dozen short documents in
 * four domains, three random LoRA experts saved in PEFT layout, and a pilot library WITH
 * labels, whose per-query scores are set by hand so routing is predictable:
 *   science queries -> "scifact", code queries -> "code", general queries -> "base";
 *   aero queries score 0 everywhere (no pilot), so an expert added later that retrieves them
 *   (e.g. "gamma", in the folder but not in the library) wins them and gets pilots.
 * Query vectors in the labels are real base embeddings, so the router sees real geometry.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomExpert } from "../../src/experts/init.js";
import { saveExpert } from "../../src/experts/peft.js";
import type { LoraConfig } from "../../src/experts/types.js";
import { createIndex } from "../../src/vectors/store.js";
import { Encoder, loadModel, type LoadedModel } from "../../src/model/encoder.js";
import { defaultModelSpec } from "../../src/model/spec.js";
import { savePilotLibrary } from "../../src/routing/persist.js";
import { libraryFromLabels, relabel, type DomainCorpus, type PilotLabels } from "../../src/routing/pilots.js";
import { BASE, type RoutingRule } from "../../src/routing/types.js";
import { documentText, type Qrels } from "../../src/data/beir.js";
import type { PilotDomainsProvider } from "../../src/engine/components/pilot-state.js";
import type { StoredDocument } from "../../src/engine/types.js";

export const FIXTURE_DOCS: readonly StoredDocument[] = [
  { id: "sci-1", title: "Vitamin D and multiple sclerosis", text: "Low serum vitamin D concentrations are associated with a higher risk of multiple sclerosis in adults." },
  { id: "sci-2", title: "BRCA1 and breast cancer", text: "Women carrying BRCA1 mutations have a greatly increased lifetime risk of breast and ovarian cancer." },
  { id: "sci-3", title: "Mitochondria", text: "The mitochondrion produces most of the cell's ATP through oxidative phosphorylation." },
  { id: "code-1", title: "", text: "def reverse_list(head):\n    prev = None\n    while head:\n        head.next, prev, head = prev, head, head.next\n    return prev" },
  { id: "code-2", title: "", text: "def read_json(path):\n    \"\"\"Load a JSON file and return the parsed object.\"\"\"\n    with open(path) as f:\n        return json.load(f)" },
  { id: "code-3", title: "", text: "def mkdir_p(path):\n    \"\"\"Create a directory and its parents if missing.\"\"\"\n    os.makedirs(path, exist_ok=True)" },
  { id: "aero-1", title: "Boundary layer transition on swept wings", text: "Experiments on the transition of the laminar boundary layer on a swept wing at supersonic speeds." },
  { id: "aero-2", title: "Heat transfer in hypersonic flow", text: "Measurements of heat transfer to a blunt body in hypersonic flow of air at high stagnation temperature." },
  { id: "aero-3", title: "Panel flutter", text: "The flutter of thin panels exposed to supersonic flow on one side is analysed with linear piston theory." },
  { id: "gen-1", title: "Cheap flights", text: "Compare prices of flights from many airlines and book the cheapest ticket for your trip." },
  { id: "gen-2", title: "Bread recipe", text: "Mix flour, water, salt and yeast, knead for ten minutes, let the dough rise and bake it for forty minutes." },
  { id: "gen-3", title: "Running shoes", text: "Choose running shoes with good cushioning and replace them every eight hundred kilometres." },
];

interface LabelledQuery {
  readonly domain: string;
  readonly id: string;
  readonly text: string;
  readonly relevant: string;
  readonly scores: Readonly<Record<string, number>>;
}

const SCI = { [BASE]: 0.5, scifact: 1, code: 0.2 };
const CODE = { [BASE]: 0.5, scifact: 0.1, code: 1 };
const GEN = { [BASE]: 1, scifact: 0.3, code: 0.3 };
const ZERO = { [BASE]: 0, scifact: 0, code: 0 };

export const FIXTURE_QUERIES: readonly LabelledQuery[] = [
  { domain: "science", id: "s1", text: "does vitamin D deficiency cause multiple sclerosis", relevant: "sci-1", scores: SCI },
  { domain: "science", id: "s2", text: "BRCA1 mutation cancer risk", relevant: "sci-2", scores: SCI },
  { domain: "science", id: "s3", text: "how do mitochondria make ATP", relevant: "sci-3", scores: SCI },
  { domain: "code", id: "c1", text: "python reverse a linked list", relevant: "code-1", scores: CODE },
  { domain: "code", id: "c2", text: "python load json file", relevant: "code-2", scores: CODE },
  { domain: "code", id: "c3", text: "python create directory recursively", relevant: "code-3", scores: CODE },
  { domain: "aero", id: "a1", text: "boundary layer transition swept wing supersonic", relevant: "aero-1", scores: ZERO },
  { domain: "aero", id: "a2", text: "panel flutter in supersonic flow", relevant: "aero-3", scores: ZERO },
  { domain: "general", id: "g1", text: "cheapest airline tickets", relevant: "gen-1", scores: GEN },
  { domain: "general", id: "g2", text: "how to bake bread at home", relevant: "gen-2", scores: GEN },
];

export const FIXTURE_LORA: LoraConfig = { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "value"] };

export interface Fixture {
  readonly root: string;
  readonly storeDir: string;
  readonly expertsDir: string;
  readonly pilotsPath: string;
  readonly model: LoadedModel;
  /** The labelled domains' corpora (one index of FIXTURE_DOCS, per-domain qrels). */
  readonly pilotDomains: PilotDomainsProvider;
  cleanup(): void;
}

/**
 * The rule the engine and service tests route the fixture with. Its library holds three labelled
 * queries per domain: too few for the knn default (tested in routing/router.test.ts against
 * libraries made for it), so the engine's mechanics are pinned with the best centroid rule of the
 * previous selection (mean cosine, base +0.02, soft top-2).
 */
export const FIXTURE_RULE: RoutingRule = { aggregate: "mean", similarity: "cosine", temperature: 0.05, topM: 2, baseBias: 0.02 };

/** Builds the fixture in a fresh temp folder; the store itself is created by the first open. */
export async function makeFixture(model: LoadedModel = loadModel(defaultModelSpec())): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), "rr-engine-"));
  const expertsDir = join(root, "experts");
  mkdirSync(expertsDir);
  ["scifact", "code", "gamma"].forEach((id, i) => saveExpert(join(expertsDir, id), randomExpert(model, FIXTURE_LORA, 101 + i, { id, bBound: 0.02 })));

  const enc = await Encoder.create(model);
  let qv: Float32Array, dv: Float32Array;
  try {
    qv = await enc.encode(FIXTURE_QUERIES.map((q) => q.text));
    dv = await enc.encode(FIXTURE_DOCS.map(documentText));
  } finally {
    await enc.close();
  }
  const d = model.spec.config.hiddenSize;
  const domainNames = [...new Set(FIXTURE_QUERIES.map((q) => q.domain))];
  const labels: PilotLabels = relabel({
    baseModelId: model.spec.id,
    dims: d,
    candidates: [BASE, "scifact", "code"],
    domains: domainNames.map((name) => (name === "science" ? { name, expert: "scifact" } : name === "code" ? { name, expert: "code" } : { name })),
    allZero: "skip",
    sampling: { maxQueriesPerDomain: 500, seed: 0 },
    labels: FIXTURE_QUERIES.map((q, i) => ({ domain: q.domain, queryId: q.id, text: q.text, scores: q.scores, vector: qv.slice(i * d, (i + 1) * d) })),
  });
  const pilotsPath = join(root, "pilots.json");
  savePilotLibrary(pilotsPath, libraryFromLabels(labels), labels);

  const index = createIndex(join(root, "domain-index"), { modelId: model.spec.id, dims: d, pooling: model.spec.pooling, normalized: model.spec.normalize });
  index.add(FIXTURE_DOCS.map((x) => x.id), dv);
  index.save();
  const corpora: DomainCorpus[] = domainNames.map((name) => {
    const qrels: Qrels = new Map(FIXTURE_QUERIES.filter((q) => q.domain === name).map((q) => [q.id, new Map([[q.relevant, 1]])]));
    return { name, index, qrels, ignoreIdenticalIds: false };
  });
  return {
    root,
    storeDir: join(root, "store"),
    expertsDir,
    pilotsPath,
    model,
    pilotDomains: async (names) => corpora.filter((c) => names.includes(c.name)),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface SyntheticDomain {
  readonly name: string;
  /** The domain's own (random) expert; undefined = the domain is served by the base model. */
  readonly expert?: string;
  readonly queries: readonly { readonly id: string; readonly text: string }[];
}

/**
 * Experts and a pilot library shaped like a real deployment, for benchmarks and screenshots
 * before trained experts exist: one random LoRA expert per domain that has one, and labels
 * where each domain's queries are won by its own expert (the base model for a domain without
 * one). Routing then depends on real query geometry, and the second pass on real LoRA weights;
 * only retrieval quality is meaningless.
 */
export async function writeSyntheticRouting(model: LoadedModel, dir: string, domains: readonly SyntheticDomain[]): Promise<{ expertsDir: string; pilotsPath: string }> {
  const expertsDir = join(dir, "experts");
  mkdirSync(expertsDir, { recursive: true });
  const experts = domains.flatMap((d) => (d.expert !== undefined ? [d.expert] : []));
  experts.forEach((id, i) => saveExpert(join(expertsDir, id), randomExpert(model, FIXTURE_LORA, 201 + i, { id, bBound: 0.02 })));
  const candidates = [BASE, ...experts];
  const enc = await Encoder.create(model);
  const d = model.spec.config.hiddenSize;
  const items: Array<Omit<PilotLabels["labels"][number], "best">> = [];
  try {
    for (const dom of domains) {
      const vecs = await enc.encode(dom.queries.map((q) => q.text));
      const winner = dom.expert ?? BASE;
      dom.queries.forEach((q, i) => {
        const scores: Record<string, number> = {};
        for (const c of candidates) scores[c] = c === winner ? 1 : c === BASE ? 0.5 : 0.2;
        items.push({ domain: dom.name, queryId: q.id, text: q.text, scores, vector: vecs.slice(i * d, (i + 1) * d) });
      });
    }
  } finally {
    await enc.close();
  }
  const labels = relabel({
    baseModelId: model.spec.id,
    dims: d,
    candidates,
    domains: domains.map((x) => (x.expert !== undefined ? { name: x.name, expert: x.expert } : { name: x.name })),
    allZero: "skip",
    sampling: { maxQueriesPerDomain: 500, seed: 0 },
    labels: items,
  });
  const pilotsPath = join(dir, "pilots.json");
  savePilotLibrary(pilotsPath, libraryFromLabels(labels), labels);
  return { expertsDir, pilotsPath };
}

/**
 * Each hit's score must be the dot product of `queryVector` with the fixture document's base
 * embedding (documents are embedded once by the base; the query side carries the experts).
 */
export async function expectHitScoresAreDots(fx: Fixture, hits: readonly { id: string; score: number }[], queryVector: Float32Array, closeTo: (actual: number, expected: number) => void): Promise<void> {
  const base = await Encoder.create(fx.model);
  try {
    const dv = await base.encode(FIXTURE_DOCS.map((d) => `${d.title} ${d.text}`.trim()));
    const d = base.dims;
    for (const h of hits) {
      const row = FIXTURE_DOCS.findIndex((x) => x.id === h.id);
      let s = 0;
      for (let t = 0; t < d; t++) s += queryVector[t]! * dv[row * d + t]!;
      closeTo(h.score, s);
    }
  } finally {
    await base.close();
  }
}
