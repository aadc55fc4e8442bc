/**
 * The real thing, small: all-MiniLM-L6-v2 with two random LoRA experts over two tiny in-memory
 * corpora. Builds a pilot library, routes, adds an expert incrementally (checking through a
 * counting wrapper that only the new expert is encoded) and compares with a full rebuild.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Qrels } from "../data/beir.js";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import { randomExpert } from "../experts/init.js";
import type { LoraConfig, LoraExpert } from "../experts/types.js";
import { createIndex, type VectorIndex } from "../vectors/store.js";
import { loadModel, type LoadedModel } from "../model/encoder.js";
import { defaultModelSpec } from "../model/spec.js";
import { datasetRouter } from "./baselines.js";
import { addExpertToLibrary, removeExpertFromLibrary, scoreExpertOnLabels } from "./incremental.js";
import { instanceOracle } from "./oracles.js";
import { loadPilotLibrary, savePilotLibrary } from "./persist.js";
import { buildPilotLibrary, type PilotDomain } from "./pilots.js";
import { pilotRouter, route } from "./router.js";
import { scoreCandidates } from "./scores.js";
import { CountingEncoder } from "../../test/support/routing.js";
import { BASE, PAPER_RULE } from "./types.js";

/**
 * [doc id, document, a query for it]. Topics overlap on purpose, so the base model ranks some
 * relevant documents second and a random expert can occasionally do better: with the seeds
 * below, e1 (seed 6) wins "q-m2" and e2 (seed 10) wins "q-c7", which gives the library pilots
 * for real experts, not just for "base".
 */
const CORPORA: Record<string, Array<[string, string, string]>> = {
  med: [
    ["m1", "Insulin lowers blood glucose by helping cells absorb sugar.", "blood sugar hormone"],
    ["m2", "Glucagon raises blood glucose by releasing stored glycogen.", "hormone that changes glucose"],
    ["m3", "Metformin reduces glucose production in the liver.", "diabetes pill liver"],
    ["m4", "The liver metabolises most drugs through cytochrome P450 enzymes.", "liver enzymes"],
    ["m5", "Statins lower cholesterol by blocking HMG-CoA reductase in the liver.", "liver drug"],
    ["m6", "Beta blockers slow the heart rate and lower blood pressure.", "lower pressure"],
    ["m7", "ACE inhibitors lower blood pressure by relaxing blood vessels.", "blood vessels"],
    ["m8", "Diuretics lower blood pressure by removing salt and water.", "water pill"],
  ],
  code: [
    ["c1", "A hash map gives average constant-time lookups by key.", "fast lookup"],
    ["c2", "A binary search tree keeps keys sorted for ordered lookups.", "sorted keys structure"],
    ["c3", "Binary search halves a sorted array at every step.", "search sorted data"],
    ["c4", "A mutex prevents two threads from entering a critical section at once.", "thread safety"],
    ["c5", "A semaphore limits how many threads may use a resource.", "limit concurrent threads"],
    ["c6", "TCP retransmits lost packets and delivers bytes in order.", "reliable protocol"],
    ["c7", "UDP sends datagrams without delivery guarantees.", "network packets"],
    ["c8", "Git rebase replays commits on top of another branch.", "move commits"],
  ],
};

const LORA: LoraConfig = { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "value"] };
const tmp = mkdtempSync(join(tmpdir(), "rr-routing-e2e-"));
let model: LoadedModel;
let enc: ExpertEncoder;
let e2: LoraExpert;
let domains: PilotDomain[];

beforeAll(async () => {
  model = loadModel(defaultModelSpec());
  const e1 = randomExpert(model, LORA, 6, { id: "e1", bBound: 0.1 });
  e2 = randomExpert(model, LORA, 10, { id: "e2", bBound: 0.1 });
  enc = await ExpertEncoder.create(model, [e1]);
  const spec = model.spec;
  domains = [];
  for (const [name, rows] of Object.entries(CORPORA)) {
    const index: VectorIndex = createIndex(join(tmp, name), { modelId: spec.id, dims: enc.dims, pooling: spec.pooling, normalized: spec.normalize });
    index.add(
      rows.map((r) => r[0]),
      await enc.encode(
        rows.map((r) => r[1]),
        BASE,
      ),
    );
    const qrels: Qrels = new Map(rows.map((r) => [`q-${r[0]}`, new Map([[r[0], 1]])]));
    domains.push({ name, index, qrels, queries: rows.map((r) => ({ id: `q-${r[0]}`, text: r[2] })), ...(name === "med" ? { expert: "e1" } : {}) });
  }
});

afterAll(async () => {
  await enc?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pilot library end to end on all-MiniLM-L6-v2", () => {
  it("builds, routes, adds/removes an expert incrementally and persists", async () => {
    const counting = new CountingEncoder(enc);
    const built = await buildPilotLibrary({ encoder: counting, domains, candidates: [BASE, "e1"] });
    expect(counting.calls).toEqual([
      { expertId: BASE, rows: 16 },
      { expertId: "e1", rows: 16 },
    ]);
    const { library, labels } = built;
    expect(library.baseModelId).toBe(model.spec.id);
    expect(library.dims).toBe(384);
    expect(labels.labels).toHaveLength(16);

    // Label vectors are the queries' base embeddings; each pilot is its group's mean.
    const texts = labels.labels.map((l) => l.text);
    const baseVecs = await enc.encode(texts, BASE);
    labels.labels.forEach((l, i) => {
      for (let j = 0; j < 384; j += 37) expect(l.vector[j]).toBeCloseTo(baseVecs[i * 384 + j]!, 5);
    });
    for (const p of library.pilots) {
      const group = labels.labels.filter((l) => l.domain === p.domain && l.best === p.expert);
      expect(group).toHaveLength(p.size);
      for (let j = 0; j < 384; j += 53) expect(p.vector[j]).toBeCloseTo(group.reduce((s, l) => s + l.vector[j]!, 0) / group.length, 5);
    }
    for (const l of labels.labels) expect(l.scores[BASE]).toBeGreaterThan(0);
    const winners = (ls: typeof labels.labels, e: string): string[] => ls.filter((l) => l.best === e).map((l) => l.queryId);
    expect(winners(labels.labels, "e1")).toContain("q-m2");
    expect(library.pilots.some((p) => p.expert === "e1" && p.domain === "med")).toBe(true);

    const decisions = route(library, baseVecs, PAPER_RULE);
    expect(decisions).toHaveLength(16);
    for (const d of decisions) {
      expect(library.experts).toContain(d.expert);
      expect(Object.keys(d.scores).sort()).toEqual([BASE, "e1"].sort());
    }
    expect(pilotRouter(library).route(baseVecs, 16)).toEqual(decisions);
    // Each training query is its own nearest sample: med -> its expert e1, code -> base.
    expect(datasetRouter(labels).route(baseVecs, 16).map((d) => d.expert)).toEqual([...Array(8).fill("e1"), ...Array(8).fill(BASE)]);

    // Incremental add: only e2 is encoded, once, and the result equals a full rebuild.
    enc.addExpert(e2);
    const counting2 = new CountingEncoder(enc);
    const newScores = await scoreExpertOnLabels({ encoder: counting2, labels, domains, expertId: "e2" });
    expect(counting2.calls).toEqual([{ expertId: "e2", rows: 16 }]);
    const added = addExpertToLibrary(library, labels, "e2", newScores);
    expect(winners(added.labels.labels, "e2")).toContain("q-c7");
    expect(added.library.pilots.some((p) => p.expert === "e2" && p.domain === "code")).toBe(true);
    const rebuilt = await buildPilotLibrary({ encoder: enc, domains, candidates: [BASE, "e1", "e2"] });
    expect(added.labels).toEqual(rebuilt.labels);
    expect(added.library).toEqual(rebuilt.library);
    expect(removeExpertFromLibrary(added.library, added.labels, "e2")).toEqual(built);

    // The new expert's scores agree with scoring it directly through scoreCandidates.
    const med = domains[0]!;
    const direct = await scoreCandidates({ encoder: enc, index: med.index, queries: med.queries, qrels: med.qrels, candidates: ["e2"], ignoreIdenticalIds: false });
    expect([...direct.get("e2")!]).toEqual([...newScores.get("med")!]);

    // Oracle over the training table (just exercising the API on real scores).
    const table = new Map([BASE, "e1", "e2"].map((c) => [c, new Map(added.labels.labels.filter((l) => l.domain === "med").map((l) => [l.queryId, l.scores[c]!]))]));
    const oracle = instanceOracle(table);
    expect(oracle.ndcg).toBeGreaterThanOrEqual(Math.max(...[...table.values()].map((m) => [...m.values()].reduce((a, b) => a + b, 0) / m.size)) - 1e-12);

    const path = join(tmp, "pilots.json");
    savePilotLibrary(path, added.library, added.labels);
    const loaded = loadPilotLibrary(path, model.spec.id);
    expect(loaded.library).toEqual(added.library);
    expect(loaded.labels).toEqual(added.labels);
    expect(() => loadPilotLibrary(path, "sentence-transformers/all-mpnet-base-v2")).toThrow(/built for base model/);
  });
});
