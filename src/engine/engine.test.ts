import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import { loadExpert } from "../experts/peft.js";
import { Encoder } from "../model/encoder.js";
import { RouterRetriever } from "./router-retriever.js";
import { expectHitScoresAreDots, FIXTURE_DOCS, FIXTURE_RULE, makeFixture, type Fixture } from "../../test/support/engine.js";

let fx: Fixture;
let rr: RouterRetriever;
const warnings: string[] = [];

const code = async (p: Promise<unknown> | (() => unknown)): Promise<string | undefined> => {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    return err instanceof RouterRetrieverError ? err.code : `non-library error: ${String(err)}`;
  }
  return undefined;
};

beforeAll(async () => {
  fx = await makeFixture();
  rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, pilotDomains: fx.pilotDomains, onWarning: (m) => warnings.push(m) });
  await rr.addDocuments(FIXTURE_DOCS);
});

afterAll(async () => {
  await rr?.close();
  fx?.cleanup();
});

describe("RouterRetriever", () => {
  it("activates every expert folder on first open; gamma has no pilots yet", () => {
    const experts = rr.listExperts();
    expect(experts.map((e) => [e.name, e.active, e.routable])).toEqual([
      ["code", true, true],
      ["gamma", true, false],
      ["scifact", true, true],
    ]);
    expect(warnings.some((w) => w.includes("gamma"))).toBe(true);
  });

  it("routes science queries to scifact and code queries to code, with every candidate's score", async () => {
    const [sci, py, gen] = await rr.searchBatch(["vitamin D and multiple sclerosis risk", "python read a json file", "cheap airline tickets"], 3);
    expect(sci!.expert).toBe("scifact");
    expect(py!.expert).toBe("code");
    expect(gen!.expert).toBe("base");
    expect(Object.keys(sci!.scores).sort()).toEqual(["base", "code", "scifact"]);
    expect(sci!.routingNote).toContain("gamma");
    expect(sci!.hits[0]!.id).toBe("sci-1");
    expect(py!.hits[0]!.id).toBe("code-2");
    expect(sci!.hits[0]!.title).toBe("Vitamin D and multiple sclerosis");
    expect(sci!.hits[0]!.snippet.length).toBeGreaterThan(0);
  });

  it("uses the routed expert's embedding: equal to a direct base+expert encode", async () => {
    const q = "does vitamin D deficiency cause multiple sclerosis";
    const res = await rr.search(q, 12);
    expect(res.expert).toBe("scifact");
    const enc = await ExpertEncoder.create(fx.model, [loadExpert(join(fx.expertsDir, "scifact"), fx.model, { id: "scifact" })]);
    try {
      await expectHitScoresAreDots(fx, res.hits, await enc.encode([q], "scifact"), (actual, expected) => expect(actual).toBeCloseTo(expected, 4));
    } finally {
      await enc.close();
    }
  });

  it("removing an expert takes it out of routing; adding it back restores it", async () => {
    await rr.removeExpert("scifact");
    const without = await rr.search("BRCA1 mutation cancer risk", 3);
    expect(without.expert).not.toBe("scifact");
    expect(Object.keys(without.scores)).not.toContain("scifact");
    expect(await code(rr.removeExpert("scifact"))).toBe("NOT_FOUND");
    const added = await rr.addExpert("scifact");
    expect(added.expert.routable).toBe(true);
    expect(added.pilotsAdded).toBe(0);
    expect((await rr.search("BRCA1 mutation cancer risk", 3)).expert).toBe("scifact");
    expect(await code(rr.addExpert("scifact"))).toBe("CONFLICT");
  });

  it("adding a never-seen expert scores it on the labels and gives it pilots (incremental add)", async () => {
    await rr.removeExpert("gamma");
    const res = await rr.addExpert("gamma");
    expect(res.pilotsAdded).toBeGreaterThan(0);
    expect(res.expert.routable).toBe(true);
    expect(res.note).toBeUndefined();
    expect(existsSync(join(fx.storeDir, "pilots.json"))).toBe(true);
    expect((await rr.search("panel flutter supersonic", 3)).expert).toBe("gamma");
  });

  it("refuses names that are paths, traversal, or symlinks out of the experts folder", async () => {
    for (const bad of ["../experts", "/etc", "a/b", "..", ".hidden", "base", "x".repeat(200), ""]) {
      expect(await code(rr.addExpert(bad)), bad).toBe("BAD_INPUT");
    }
    const outside = join(fx.root, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "adapter_config.json"), "{}");
    symlinkSync(outside, join(fx.expertsDir, "escape"));
    expect(await code(rr.addExpert("escape"))).toBe("BAD_INPUT");
    expect(await code(rr.addExpert("missing"))).toBe("NOT_FOUND");
  });

  it("rejects bad documents and duplicate ids without changing the store", async () => {
    const before = (await rr.countDocuments());
    expect(await code(rr.addDocuments([{ id: "sci-1", text: "again" }]))).toBe("CONFLICT");
    expect(await code(rr.addDocuments([{ id: "n1", text: "x" }, { id: "n1", text: "y" }]))).toBe("CONFLICT");
    expect(await code(rr.addDocuments([{ id: "", text: "x" }]))).toBe("BAD_INPUT");
    expect(await code(rr.addDocuments([{ id: "n2", title: "", text: "" }]))).toBe("BAD_INPUT");
    expect((await rr.countDocuments())).toBe(before);
  });

  it("persists documents, registry and pilots across a reopen", async () => {
    await rr.addDocuments([{ id: "new-1", title: "Glider wings", text: "Aspect ratio and the lift to drag ratio of sailplane wings." }]);
    await rr.removeExpert("code");
    await rr.close();
    rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, onWarning: () => {} });
    expect((await rr.countDocuments())).toBe(FIXTURE_DOCS.length + 1);
    expect((await rr.getDocument("new-1"))?.title).toBe("Glider wings");
    const active = rr.listExperts().filter((e) => e.active).map((e) => e.name);
    expect(active).toEqual(["gamma", "scifact"]);
    expect(rr.listExperts().find((e) => e.name === "gamma")!.routable).toBe(true);
    const registry = JSON.parse(readFileSync(join(fx.storeDir, "experts.json"), "utf8")) as { known: string[] };
    expect(registry.known).toContain("code");
    expect((await rr.search("sailplane wing lift to drag", 1)).hits[0]!.id).toBe("new-1");
  });

  it("health reports documents, experts and pilots", async () => {
    const h = await rr.health();
    expect(h.status).toBe("ok");
    expect(h.documents).toBe(FIXTURE_DOCS.length + 1);
    expect(h.experts.active).toBe(2);
    expect(h.pilots).toBeGreaterThan(0);
  });

  it("health reports what open verified: the checksums of the vectors and documents as they are on disk", async () => {
    // Nothing was written since the reopen above, so the files still hold what open hashed.
    const { integrity } = await rr.health();
    const manifest = JSON.parse(readFileSync(join(fx.storeDir, "index", "manifest.json"), "utf8")) as { checksum: string };
    expect(integrity.vectors).toBe(manifest.checksum);
    expect(integrity.documents).toBe("sha256:" + createHash("sha256").update(readFileSync(join(fx.storeDir, "docs.jsonl"))).digest("hex"));
    expect(Date.now() - Date.parse(integrity.verifiedAt)).toBeLessThan(3_600_000);
  });
});
