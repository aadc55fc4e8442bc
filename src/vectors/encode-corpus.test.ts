import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Encoder, loadModel } from "../model/encoder.js";
import { defaultModelSpec } from "../model/spec.js";
import { corpusCacheKey } from "./cache.js";
import { corpusVectors } from "./encode-corpus.js";

const dir = mkdtempSync(join(tmpdir(), "rr-corpus-key-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("corpusVectors cache key and precision", () => {
  const docs = [
    { id: "a", text: "Aspirin lowers the risk of heart attack." },
    { id: "b", text: "The mitochondria is the powerhouse of the cell." },
  ];

  it("keeps fp32 keys exactly as before precision existed, and gives int8 its own entry", async () => {
    const model = loadModel(defaultModelSpec());
    const spec = model.spec;
    // The key every cache written before the precision option was made under.
    const legacy = corpusCacheKey({ modelId: spec.id, pooling: spec.pooling, normalized: spec.normalize, maxLength: spec.maxLength, ids: docs.map((d) => d.id), texts: docs.map((d) => d.text) });
    const fp32 = await Encoder.create(model, { precision: "fp32" });
    const int8 = await Encoder.create(model, { precision: "int8" });
    const a = await corpusVectors(fp32, docs, { cacheDir: dir });
    const b = await corpusVectors(int8, docs, { cacheDir: dir });
    expect(a.key).toBe(legacy);
    expect(b.key).not.toBe(legacy);
    expect(b.hit).toBe(false);
    // Each precision hits its own entry on the second call, holding its own vectors.
    const a2 = await corpusVectors(fp32, docs, { cacheDir: dir });
    const b2 = await corpusVectors(int8, docs, { cacheDir: dir });
    expect([a2.hit, b2.hit]).toEqual([true, true]);
    expect(Array.from(b2.index.get("a")!)).toEqual(Array.from(b.index.get("a")!));
    expect(Array.from(a2.index.get("a")!)).not.toEqual(Array.from(b2.index.get("a")!));
    await fp32.close();
    await int8.close();
  });
});
