/**
 * addDomain end to end on the real base model and a tiny corpus: documents stored, an expert
 * trained on their pseudo-queries (one short epoch), its routing evidence written and used on
 * registration, progress through every stage in order, the work folder gone afterwards, and
 * refusals (taken name, a document id already stored with other text) before any work.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRoutingEvidence, ROUTING_EVIDENCE_FILE } from "../routing/evidence.js";
import { BASE } from "../routing/types.js";
import { RouterRetriever } from "../engine/router-retriever.js";
import { addDomain, type AddDomainProgress, type AddDomainResult } from "./add-domain.js";
import { FIXTURE_DOCS, makeFixture, type Fixture } from "../../test/support/engine.js";

const ASTRO = [
  ["Radial velocity detection of exoplanets", "Doppler shifts in stellar spectra reveal planets orbiting nearby stars."],
  ["Transit photometry of hot Jupiters", "Periodic dips in a star's brightness measure the radius of a giant planet."],
  ["Cosmic microwave background anisotropies", "Temperature fluctuations of the relic radiation constrain cosmological parameters."],
  ["Type Ia supernovae as standard candles", "Calibrated peak luminosities show that the expansion of the universe accelerates."],
  ["Gravitational lensing by galaxy clusters", "Arcs and multiple images map the dark matter in massive clusters."],
  ["Spiral density waves in disc galaxies", "Quasi-stationary density waves explain the persistence of spiral arms."],
  ["Neutron star equation of state", "Mass and radius measurements of pulsars constrain matter at nuclear densities."],
  ["Accretion discs around black holes", "Viscous discs convert gravitational energy into X-ray emission."],
  ["Stellar nucleosynthesis of heavy elements", "Slow and rapid neutron capture build elements beyond iron."],
  ["Solar wind interaction with planetary magnetospheres", "The bow shock and magnetopause shield a planet from charged particles."],
  ["Formation of planetesimals in protoplanetary discs", "Dust grains grow by coagulation and streaming instability into kilometre bodies."],
  ["Variable stars and the period luminosity relation", "Cepheid pulsation periods give distances to nearby galaxies."],
].map(([title, text], i) => ({ id: `astro/${i}`, title: title!, text: text! }));

let fx: Fixture;
let rr: RouterRetriever;
let cacheDir: string;
let result: AddDomainResult;
const events: AddDomainProgress[] = [];

beforeAll(async () => {
  fx = await makeFixture();
  cacheDir = mkdtempSync(join(tmpdir(), "rr-domain-cache-"));
  rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, onWarning: () => {} });
  await rr.addDocuments(FIXTURE_DOCS);
  result = await addDomain(rr, { name: "astro", documents: [...ASTRO, { id: "astro/empty", title: " ", text: "\n" }], epochs: 1, batchSize: 8, evidenceQueries: 50, cacheDir, onProgress: (p) => events.push(p) });
}, 600_000);

afterAll(async () => {
  await rr?.close();
  fx?.cleanup();
  rmSync(cacheDir, { recursive: true, force: true });
});

describe("addDomain: a folder of documents to a registered expert", () => {
  it("stores the documents next to the existing ones", async () => {
    expect(result.documents).toEqual({ added: ASTRO.length, alreadyStored: 0, skippedEmpty: 1, total: FIXTURE_DOCS.length + ASTRO.length });
    expect((await rr.getDocument("astro/3"))?.title).toBe("Type Ia supernovae as standard candles");
  });

  it("trains on the documents' pseudo-queries and registers the expert with its routing evidence", () => {
    expect(result.domain).toBe("astro");
    expect(result.expert.name).toBe("astro");
    expect(result.expert.active).toBe(true);
    // One pseudo-query per document (every title has >= 4 words); a tenth held out for dev.
    expect(result.training.pairs).toBe(ASTRO.length - 1);
    const ev = loadRoutingEvidence(join(fx.expertsDir, "astro", ROUTING_EVIDENCE_FILE), fx.model.spec.id);
    expect(ev.expert).toBe("astro");
    expect(ev.domain).toBe("astro");
    expect(ev.querySource).toBe("pseudo");
    expect([...ev.documentIds].sort()).toEqual(ASTRO.map((d) => d.id).sort());
    expect(ev.items).toHaveLength(ASTRO.length);
    expect(result.evidence.queries).toBe(ASTRO.length);
    // Every scored pseudo-query went to base or the new expert (or to nobody when all scored 0).
    const won = Object.values(result.evidence.won).reduce((a, b) => a + b, 0);
    expect(won).toBeLessThanOrEqual(ASTRO.length);
    expect(Object.keys(result.evidence.won).every((e) => e === BASE || e === "astro")).toBe(true);
    expect(result.expert.pilots).toBe(result.evidence.won.astro !== undefined ? 1 : 0);
    expect(rr.listExperts().find((e) => e.name === "astro")?.active).toBe(true);
  });

  it("reports progress through every stage, in order, and times each", () => {
    const stages = [...new Set(events.map((e) => e.stage))];
    expect(stages).toEqual(["documents", "train", "evidence", "register"]);
    const docs = events.filter((e) => e.stage === "documents" && e.message === undefined);
    expect(docs.at(-1)).toMatchObject({ done: ASTRO.length, total: ASTRO.length, unit: "docs" });
    expect(events.some((e) => e.stage === "train" && e.unit === "steps" && e.done > 0)).toBe(true);
    expect(events.some((e) => e.stage === "train" && /epoch 1: dev nDCG@10/.test(e.message ?? ""))).toBe(true);
    for (const k of ["documents", "train", "evidence", "register", "total"] as const) expect(result.seconds[k]).toBeGreaterThanOrEqual(0);
    expect(result.seconds.total).toBeGreaterThanOrEqual(result.seconds.train);
  });

  it("leaves no work folder behind, and the expert folder only once complete", () => {
    expect(readdirSync(fx.expertsDir).filter((n) => n.startsWith("."))).toEqual([]);
    expect(existsSync(join(fx.expertsDir, "astro", "adapter_model.safetensors"))).toBe(true);
  });

  it("refuses a taken name and a document id stored with other text, before any work", async () => {
    await expect(addDomain(rr, { name: "astro", documents: ASTRO })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(addDomain(rr, { name: "scifact", documents: ASTRO })).rejects.toThrow(/already active/);
    const clash = [{ id: "astro/0", title: "Something else entirely here", text: "other" }, ...ASTRO.slice(1, 3).map((d) => ({ ...d, id: `x/${d.id}` }))];
    await expect(addDomain(rr, { name: "astro2", documents: clash })).rejects.toThrow(/"astro\/0" is already in the store with other text/);
    expect(existsSync(join(fx.expertsDir, ".astro2.domain"))).toBe(false);
    await expect(addDomain(rr, { name: "../x", documents: ASTRO })).rejects.toMatchObject({ code: "BAD_INPUT" });
    await expect(addDomain(rr, { name: "one", documents: ASTRO.slice(0, 1) })).rejects.toThrow(/at least 2 documents/);
  });
});
