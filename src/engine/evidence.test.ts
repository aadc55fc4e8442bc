/**
 * An expert that brings its own routing evidence (routing.json) through the engine: added
 * without scoring anything, its domain's pilots route that domain's queries to it, every other
 * query keeps its route and score, removing it restores the library exactly, other experts are
 * scored on the new domain only when asked, and a bad evidence file fails the add cleanly.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomExpert } from "../experts/init.js";
import { saveExpert } from "../experts/peft.js";
import { Encoder } from "../model/encoder.js";
import { ROUTING_EVIDENCE_FILE, saveRoutingEvidence, type RoutingEvidence } from "../routing/evidence.js";
import { BASE } from "../routing/types.js";
import { RouterRetriever } from "./router-retriever.js";
import { FIXTURE_DOCS, FIXTURE_LORA, FIXTURE_RULE, makeFixture, type Fixture } from "../../test/support/engine.js";

let fx: Fixture;
let rr: RouterRetriever;
let evidence: RoutingEvidence;

const AERO_DOCS = [
  { id: "aero-4", title: "Shock wave boundary layer interaction", text: "Separation of the turbulent boundary layer ahead of a compression corner at Mach 3." },
  { id: "aero-5", title: "Wing flutter at transonic speeds", text: "Flutter boundaries of a swept wing measured in a transonic wind tunnel." },
];
const AERO_PSEUDO = [
  { queryId: "p1", text: "laminar boundary layer transition on a swept wing", doc: "aero-1" },
  { queryId: "p2", text: "heat transfer to blunt bodies in hypersonic air flow", doc: "aero-2" },
  { queryId: "p3", text: "flutter of thin panels in supersonic flow", doc: "aero-3" },
  { queryId: "p4", text: "shock induced separation of a turbulent boundary layer", doc: "aero-4" },
];
const OTHER_QUERIES = ["vitamin D and multiple sclerosis risk", "python read a json file", "cheap airline tickets", "how to bake bread at home"];
const AERO_QUERIES = ["supersonic boundary layer transition experiments", "panel flutter piston theory"];

beforeAll(async () => {
  fx = await makeFixture();
  const enc = await Encoder.create(fx.model);
  const v = await enc.encode(AERO_PSEUDO.map((q) => q.text));
  await enc.close();
  const d = fx.model.spec.config.hiddenSize;
  // Hand-set scores (the real scoring is routing/evidence.test.ts's job): the expert wins every pseudo-query.
  evidence = {
    baseModelId: fx.model.spec.id,
    dims: d,
    expert: "aero-trained",
    domain: "aerodynamics",
    candidates: [BASE, "aero-trained"],
    querySource: "pseudo",
    documentIds: ["aero-1", "aero-2", "aero-3", "aero-4", "aero-5"],
    ignoreIdenticalIds: false,
    allZero: "skip",
    items: AERO_PSEUDO.map((q, i) => ({ queryId: q.queryId, text: q.text, docIds: [q.doc], scores: { [BASE]: 0.4, "aero-trained": 1 }, vector: v.slice(i * d, (i + 1) * d) })),
  };
  // Staged outside expertsDir: the experts folder gets it only when the test adds it.
  const staged = join(fx.root, "staged", "aero");
  saveExpert(staged, randomExpert(fx.model, FIXTURE_LORA, 977, { id: "aero-trained", bBound: 0.02 }));
  saveRoutingEvidence(join(staged, ROUTING_EVIDENCE_FILE), evidence);
  rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, onWarning: () => {} });
  await rr.addDocuments([...FIXTURE_DOCS, ...AERO_DOCS]);
}, 600_000);

afterAll(async () => {
  await rr?.close();
  fx?.cleanup();
});

const routes = async (qs: readonly string[]): Promise<Array<[string, Record<string, number>]>> =>
  (await rr.searchBatch(qs, 3)).map((r) => [r.expert, { ...r.scores }]);

describe("adding an expert with routing evidence", () => {
  let before: Array<[string, Record<string, number>]>;

  it("adds the new domain's pilots without scoring anything, and routes its queries to it", async () => {
    before = await routes(OTHER_QUERIES);
    const aeroBefore = await routes(AERO_QUERIES);
    expect(aeroBefore.map(([e]) => e)).not.toContain("aero");
    cpSync(join(fx.root, "staged", "aero"), join(fx.expertsDir, "aero"), { recursive: true });
    // No pilotDomains were given at open: the old path (scoring on the library's labels) is impossible.
    const res = await rr.addExpert("aero");
    expect(res.note).toBeUndefined();
    expect(res.pilotsAdded).toBe(1);
    expect(res.expert).toMatchObject({ name: "aero", active: true, routable: true, pilots: 1 });
    expect((await routes(AERO_QUERIES)).map(([e]) => e)).toEqual(["aero", "aero"]);
    // The store's copy carries the folder's name as the expert id.
    const copy = JSON.parse(readFileSync(join(fx.storeDir, "routing", "aero.json"), "utf8")) as { expert: string; candidates: string[] };
    expect(copy.expert).toBe("aero");
    expect(copy.candidates).toEqual([BASE, "aero"]);
  }, 600_000);

  it("leaves every other query's route as it was", async () => {
    const after = await routes(OTHER_QUERIES);
    expect(after.map(([e]) => e)).toEqual(before.map(([e]) => e));
    after.forEach(([, s], i) => {
      for (const [c, x] of Object.entries(before[i]![1])) expect(s[c]).toBe(x);
    });
  }, 600_000);

  it("removing the expert removes its domain's pilots: routing is exactly as before", async () => {
    const pilotsWith = (await rr.health()).pilots;
    await rr.removeExpert("aero");
    expect((await rr.health()).pilots).toBe(pilotsWith - 1);
    const after = await routes(OTHER_QUERIES);
    expect(after).toEqual(before);
    expect((await routes(AERO_QUERIES)).map(([e]) => e)).not.toContain("aero");
    await rr.addExpert("aero");
    expect((await routes(AERO_QUERIES)).map(([e]) => e)).toEqual(["aero", "aero"]);
  }, 600_000);

  it("scores the existing experts on the new domain only when asked, and keeps that across a reopen", async () => {
    const res = await rr.scoreExpertsOnDomain("aero");
    expect(res.scored).toBe(3); // code, gamma, scifact
    const copy = JSON.parse(readFileSync(join(fx.storeDir, "routing", "aero.json"), "utf8")) as { candidates: string[]; items: Array<{ scores: Record<string, number> }> };
    expect(copy.candidates).toEqual([BASE, "aero", "code", "gamma", "scifact"]);
    for (const it of copy.items) for (const c of copy.candidates) expect(Number.isFinite(it.scores[c])).toBe(true);
    expect((await rr.scoreExpertsOnDomain("aero")).scored).toBe(0);
    await rr.close();
    rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, onWarning: () => {} });
    expect(rr.listExperts().find((e) => e.name === "aero")).toMatchObject({ active: true, routable: true });
  }, 600_000);

  it("refuses a bad evidence file before changing anything", async () => {
    const bad = join(fx.expertsDir, "aero-bad");
    mkdirSync(bad);
    cpSync(join(fx.root, "staged", "aero"), bad, { recursive: true });
    const path = join(bad, ROUTING_EVIDENCE_FILE);
    const j = JSON.parse(readFileSync(path, "utf8")) as { items: Array<{ scores: Record<string, number> }> };
    j.items[0]!.scores[BASE] = Number.NaN; // JSON.stringify writes null
    writeFileSync(path, JSON.stringify(j));
    await expect(rr.addExpert("aero-bad")).rejects.toThrow(/routing\.json: items\[0\]\.scores\.base: expected a finite number/);
    expect(rr.listExperts().find((e) => e.name === "aero-bad")).toMatchObject({ active: false });
  }, 600_000);

  it("supersedes, while active, the file's pilots of a domain the base alone served", async () => {
    const pilotsBefore = (await rr.health()).pilots;
    const gen = join(fx.expertsDir, "gen-own");
    cpSync(join(fx.root, "staged", "aero"), gen, { recursive: true });
    // "general" is a labelled domain of the file with no expert of its own: its pilot is base's.
    saveRoutingEvidence(join(gen, ROUTING_EVIDENCE_FILE), { ...evidence, domain: "general" });
    const res = await rr.addExpert("gen-own");
    expect(res.expert).toMatchObject({ active: true, routable: true, pilots: 1 });
    // The file's "general" pilot (base) gave way to the evidence's (gen-own): one out, one in.
    expect((await rr.health()).pilots).toBe(pilotsBefore);
    await rr.removeExpert("gen-own");
    expect((await rr.health()).pilots).toBe(pilotsBefore);
    expect((await routes(OTHER_QUERIES)).map(([e]) => e)).toEqual(before.map(([e]) => e));
  }, 600_000);

  it("gives a folder dropped into expertsDir with its evidence its pilots at the next open", async () => {
    const dropped = join(fx.expertsDir, "aero-dropped");
    cpSync(join(fx.root, "staged", "aero"), dropped, { recursive: true });
    saveRoutingEvidence(join(dropped, ROUTING_EVIDENCE_FILE), { ...evidence, domain: "aero-elsewhere" });
    await rr.close();
    rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, onWarning: () => {} });
    expect((await rr.listExperts()).find((e) => e.name === "aero-dropped")).toMatchObject({ active: true, routable: true, pilots: 1 });
    await rr.removeExpert("aero-dropped");
  }, 600_000);

  it("refuses evidence for a domain that already has pilots", async () => {
    const dup = join(fx.expertsDir, "sci-2");
    cpSync(join(fx.root, "staged", "aero"), dup, { recursive: true });
    saveRoutingEvidence(join(dup, ROUTING_EVIDENCE_FILE), { ...evidence, domain: "science" });
    await expect(rr.addExpert("sci-2")).rejects.toThrow(/domain "science" of expert "sci-2" already has pilots/);
  }, 600_000);
});
