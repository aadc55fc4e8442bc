/**
 * One store format for the CLI, the service and the library: `index` builds a folder, `search`
 * answers from it routed (expert + routing scores), and `serve` on the same folder gives the
 * same hits; a second `index` resumes (encodes nothing), and one after a document's text was
 * edited encodes that document alone and replaces its vector (issue 12). `serve --corpus` reads
 * its file with the one document reader (BOM, gzip). Real CLI processes, real model.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { openIndex } from "../vectors/store.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_DOCS, makeFixture, type Fixture } from "../../test/support/engine.js";
import { httpJson, runCli, startServe } from "../../test/support/cli.js";

const TOKEN = "store-commands-token-0123456789";
const QUERIES = ["BRCA1 mutation and breast cancer risk", "python load json file", "cheapest airline tickets"];

let fx: Fixture;
let corpus: string;
beforeAll(async () => {
  fx = await makeFixture();
  corpus = join(fx.root, "corpus.jsonl");
  writeFileSync(corpus, FIXTURE_DOCS.map((d) => JSON.stringify(d)).join("\n") + "\n");
}, 300_000);
afterAll(() => fx?.cleanup());

interface Routed {
  query: string;
  expert: string;
  scores: Record<string, number>;
  hits: { id: string; score: number; title: string }[];
}

describe("index, search, serve on one store folder", { timeout: 400_000 }, () => {
  let searched: Routed[];

  it("index builds the store and a second run resumes without encoding", async () => {
    const first = await runCli(["index", corpus, "--store", fx.storeDir, "--json", "--quiet"]);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ documents: FIXTURE_DOCS.length, encoded: FIXTURE_DOCS.length, alreadyThere: 0 });
    const again = await runCli(["index", corpus, "--store", fx.storeDir, "--json", "--quiet"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ documents: FIXTURE_DOCS.length, encoded: 0, alreadyThere: FIXTURE_DOCS.length });
  });

  // The fixture's library is too small for the knn default (three labelled queries a domain): route it by the paper's rule.
  const ROUTER = ["--router", "paper"];

  it("search routes each query and prints the expert and every candidate's routing score", async () => {
    const r = await runCli(["search", fx.storeDir, ...QUERIES, "--experts", fx.expertsDir, "--pilots", fx.pilotsPath, "-k", "3", "--json", ...ROUTER]);
    expect(r.code, r.stderr).toBe(0);
    searched = JSON.parse(r.stdout) as Routed[];
    expect(searched.map((x) => x.query)).toEqual(QUERIES);
    for (const x of searched) {
      expect(Object.keys(x.scores).sort()).toEqual(["base", "code", "scifact"]);
      expect(x.hits).toHaveLength(3);
    }
    // Routed, not base-only: the science query goes to the science expert.
    expect(searched[0]!.expert).toBe("scifact");
    const text = await runCli(["search", fx.storeDir, QUERIES[0]!, "--experts", fx.expertsDir, "--pilots", fx.pilotsPath, "-k", "3", ...ROUTER]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/routed to: scifact {2}\(routing scores: /);
    expect(text.stdout).toContain(searched[0]!.hits[0]!.id);
  });

  it("serve on the same folder answers with the same experts and hits", async () => {
    const svc = await startServe(["--store", fx.storeDir, "--experts", fx.expertsDir, "--pilots", fx.pilotsPath, "--port", "0", "--token", TOKEN, "--quiet", ...ROUTER]);
    try {
      for (const want of searched) {
        const r = await httpJson(`${svc.url}/api/search`, "POST", { query: want.query, k: 3 });
        expect(r.status).toBe(200);
        expect(r.body.expert).toBe(want.expert);
        expect(r.body.hits.map((h: { id: string }) => h.id)).toEqual(want.hits.map((h) => h.id));
        r.body.hits.forEach((h: { score: number }, i: number) => expect(h.score).toBeCloseTo(want.hits[i]!.score, 5));
      }
      const health = await httpJson(`${svc.url}/api/health`, "GET");
      expect(health.body.documents).toBe(FIXTURE_DOCS.length);
    } finally {
      await svc.stop();
    }
  });

  it("index after a document's text was edited encodes that one again and replaces its vector; the others are not encoded", async () => {
    const vectorsNow = (): Map<string, Float32Array> => {
      const index = openIndex(join(fx.storeDir, "index"));
      return new Map(FIXTURE_DOCS.map((d) => [d.id, index.get(d.id)!]));
    };
    const was = vectorsNow();
    const edited = FIXTURE_DOCS.map((d, i) => (i === 1 ? { ...d, text: "Quokkas are small marsupials that live on Rottnest Island near Perth." } : d));
    const file = join(fx.root, "corpus-edited.jsonl");
    writeFileSync(file, edited.map((d) => JSON.stringify(d)).join("\n") + "\n");
    const r = await runCli(["index", file, "--store", fx.storeDir, "--json", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ documents: FIXTURE_DOCS.length, encoded: 1, replaced: 1, alreadyThere: FIXTURE_DOCS.length - 1 });
    const now = vectorsNow();
    for (const d of FIXTURE_DOCS) {
      if (d.id === edited[1]!.id) expect(now.get(d.id)).not.toEqual(was.get(d.id));
      else expect(now.get(d.id), d.id).toEqual(was.get(d.id));
    }
    const again = await runCli(["index", file, "--store", fx.storeDir, "--json", "--quiet"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ encoded: 0, replaced: 0, alreadyThere: FIXTURE_DOCS.length });
  }, 900_000);

  it("serve --corpus reads a gzipped file with a byte-order mark, as index and eval do", async () => {
    const file = join(fx.root, "corpus-bom.jsonl.gz");
    writeFileSync(file, gzipSync(Buffer.from("\ufeff" + FIXTURE_DOCS.map((d) => JSON.stringify({ _id: d.id, title: d.title, text: d.text })).join("\r\n") + "\r\n", "utf8")));
    const store = join(fx.root, "served-store");
    const svc = await startServe(["--store", store, "--experts", fx.expertsDir, "--pilots", fx.pilotsPath, "--corpus", file, "--port", "0", "--token", TOKEN, "--quiet"]);
    try {
      expect((await httpJson(`${svc.url}/api/health`, "GET")).body.documents).toBe(FIXTURE_DOCS.length);
      // The first document's id kept no BOM: it is found under its own id.
      const r = await httpJson(`${svc.url}/api/search`, "POST", { query: FIXTURE_DOCS[0]!.text, k: 1 });
      expect(r.body.hits[0].id).toBe(FIXTURE_DOCS[0]!.id);
    } finally {
      await svc.stop();
    }
  }, 900_000);

  it("refuses --workers on a folder store with a clear message", async () => {
    const r = await runCli(["index", corpus, "--store", fx.storeDir, "--workers", "2"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workers needs a PostgreSQL store/);
  });
});
