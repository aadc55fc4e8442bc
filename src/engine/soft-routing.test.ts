import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import { loadExpert } from "../experts/peft.js";
import { Encoder } from "../model/encoder.js";
import { BASE } from "../routing/types.js";
import { RouterRetriever } from "./router-retriever.js";
import { expectHitScoresAreDots, FIXTURE_DOCS, makeFixture, type Fixture } from "../../test/support/engine.js";

let fx: Fixture;
let rr: RouterRetriever;

beforeAll(async () => {
  fx = await makeFixture();
  // A soft rule: every candidate with pilots shares the query's embedding by softmax(similarity / T); T = 1 keeps every share visible.
  rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: { aggregate: "mean", similarity: "cosine", temperature: 1 }, onWarning: () => {} });
  await rr.addDocuments(FIXTURE_DOCS);
});

afterAll(async () => {
  await rr?.close();
  fx?.cleanup();
});

describe("soft routing in the engine", () => {
  it("embeds a query with its mix of experts' LoRA deltas in one pass, and says so", async () => {
    const q = "does vitamin D deficiency cause multiple sclerosis";
    const res = await rr.search(q, FIXTURE_DOCS.length);
    const w = res.weights;
    expect(Object.values(w).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(Object.keys(w).length).toBeGreaterThan(1);
    expect(res.expert).toBe(Object.entries(w).sort((a, b) => b[1] - a[1])[0]![0]);
    expect(res.explanation).toMatch(/^A mix: /);
    // The hits' scores are dot products with base + sum_e w_e * delta_e (the base's share adds no delta).
    const experts = Object.keys(w).filter((e) => e !== BASE);
    const enc = await ExpertEncoder.create(fx.model, experts.map((e) => loadExpert(join(fx.expertsDir, e), fx.model, { id: e })));
    try {
      await expectHitScoresAreDots(fx, res.hits, await enc.encodeMixed([q], [Object.fromEntries(experts.map((e) => [e, w[e]!]))]), (actual, expected) => expect(actual).toBeCloseTo(expected, 4));
    } finally {
      await enc.close();
    }
  });
});
