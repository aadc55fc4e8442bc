/**
 * An index folder written by `routerretriever index` before the one store format (top-level
 * manifest.json/ids.json/vectors.f32, docs.jsonl with "_id" keys) is converted on open keeping
 * every vector, or refused untouched when it cannot be: never opened as an empty store.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../../errors.js";
import { createIndex } from "../../vectors/store.js";
import { openStore } from "../open.js";
import type { StoreSpec } from "../types.js";

const DIMS = 8;
const SPEC: StoreSpec = { modelId: "m", dims: DIMS, pooling: "mean", normalized: true };

function oldFolder(withAllDocs: boolean): { dir: string; vectors: Float32Array } {
  const dir = mkdtempSync(join(tmpdir(), "rr-old-index-"));
  const index = createIndex(dir, SPEC);
  const vectors = new Float32Array(3 * DIMS);
  for (let i = 0; i < 3; i++) vectors[i * DIMS + i] = 1;
  index.add(["a", "b", "c"], vectors);
  index.save();
  // The old `index` wrote the whole corpus, including documents not indexed yet ("d").
  const lines = [
    { _id: "a", title: "A", text: "alpha" },
    { _id: "b", title: "B", text: "beta" },
    ...(withAllDocs ? [{ _id: "c", title: "C", text: "gamma" }] : []),
    { _id: "d", title: "D", text: "not indexed yet" },
  ];
  writeFileSync(join(dir, "docs.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  return { dir, vectors };
}

describe("old index folder", () => {
  it("is migrated in place on open, keeping every indexed vector and document", async () => {
    const { dir, vectors } = oldFolder(true);
    const warnings: string[] = [];
    const store = await openStore(dir, SPEC, { onWarning: (m) => warnings.push(m) });
    try {
      expect(warnings.join("\n")).toMatch(/migrated an index folder of the old format \(3 documents\)/);
      expect(await store.count()).toBe(3);
      expect(await store.get("c")).toEqual({ id: "c", title: "C", text: "gamma" });
      const hits = await store.search(vectors.slice(DIMS, 2 * DIMS), 1);
      expect(hits[0]![0]!.id).toBe("b");
      expect(existsSync(join(dir, "manifest.json"))).toBe(false);
      expect(existsSync(join(dir, "vectors.f32"))).toBe(false);
      expect(readdirSync(dir).filter((n) => n.startsWith("."))).toEqual([]);
      await store.append([{ id: "d", title: "D", text: "not indexed yet" }], new Float32Array(DIMS).fill(Math.sqrt(1 / DIMS)));
    } finally {
      await store.close();
    }
    const again = await openStore(dir, SPEC, { onWarning: (m) => warnings.push(m) });
    try {
      expect(warnings).toHaveLength(1);
      expect(await again.count()).toBe(4);
      expect(readFileSync(join(dir, "docs.jsonl"), "utf8").trim().split("\n")).toHaveLength(4);
    } finally {
      await again.close();
    }
  });

  it("is refused untouched when its docs.jsonl lacks indexed documents", async () => {
    const { dir } = oldFolder(false);
    const before = readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n))] as const);
    const err = (await openStore(dir, SPEC).catch((e: unknown) => e)) as RouterRetrieverError;
    expect(err).toBeInstanceOf(RouterRetrieverError);
    expect(err.message).toMatch(/lacks 1 of its 3 indexed documents \(first: "c"\); nothing was changed/);
    const after = readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n))] as const);
    expect(after).toEqual(before);
  });
});
