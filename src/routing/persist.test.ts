import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { libraryFromLabels } from "./pilots.js";
import { loadPilotLibrary, savePilotLibrary } from "./persist.js";
import { makeLabels } from "../../test/support/routing.js";
import { BASE } from "./types.js";

const dir = mkdtempSync(join(tmpdir(), "rr-pilots-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Values that do not survive a float32 -> decimal -> float32 trip carelessly.
const labels = makeLabels(
  [BASE, "a", "b"],
  [{ name: "med", expert: "a" }, { name: "code" }],
  [
    { domain: "med", queryId: "m1", scores: { base: 0.1, a: 0.9, b: 1 / 3 }, vector: [Math.PI, -1e-30, 1 / 3] },
    { domain: "med", queryId: "m2", scores: { base: 0, a: 0, b: 0 }, vector: [0.1, 0.2, 0.3] },
    { domain: "code", queryId: "c1", scores: { base: 0.7, a: 0.2, b: 0.7 }, vector: [-0, 3.4e38, 1e-45] },
  ],
);
const lib = libraryFromLabels(labels);

describe("savePilotLibrary / loadPilotLibrary", () => {
  it("round-trips library and labels exactly", () => {
    const path = join(dir, "with-labels.json");
    savePilotLibrary(path, lib, labels);
    const loaded = loadPilotLibrary(path, "test/model");
    expect(loaded.library).toEqual(lib);
    expect(loaded.labels).toEqual(labels);
    const bits = (v: Float32Array): number[] => [...new Uint32Array(v.buffer, v.byteOffset, v.length)];
    loaded.library.pilots.forEach((p, i) => expect(bits(p.vector)).toEqual(bits(lib.pilots[i]!.vector)));
    loaded.labels!.labels.forEach((l, i) => expect(bits(l.vector)).toEqual(bits(labels.labels[i]!.vector)));
    expect(JSON.parse(readFileSync(path, "utf8")).labels.items[1].best).toBeNull();
  });

  it("saves a library without labels", () => {
    const path = join(dir, "plain.json");
    savePilotLibrary(path, lib);
    const loaded = loadPilotLibrary(path, "test/model");
    // Without labels there is nothing for the "knn" rule: the centroids alone come back.
    const { instances, ...centroids } = lib;
    expect(instances?.count).toBe(labels.labels.length);
    expect(loaded.library).toEqual(centroids);
    expect(loaded.labels).toBeUndefined();
  });

  it("refuses a library built for another base model (MODEL_MISMATCH), accepts a local path of the same one", () => {
    const path = join(dir, "plain.json");
    savePilotLibrary(path, lib);
    let err: unknown;
    try {
      loadPilotLibrary(path, "sentence-transformers/all-MiniLM-L12-v2");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RouterRetrieverError);
    expect((err as RouterRetrieverError).code).toBe("MODEL_MISMATCH");
    expect(loadPilotLibrary(path, "/models/model").library.baseModelId).toBe("test/model");
  });

  it("names the field at fault in a damaged file", () => {
    const path = join(dir, "damaged.json");
    savePilotLibrary(path, lib, labels);
    const doc = JSON.parse(readFileSync(path, "utf8"));
    // An edit in place is caught by the seal first ...
    writeFileSync(path, JSON.stringify({ ...doc, experts: [...doc.experts].reverse() }));
    expect(() => loadPilotLibrary(path, "test/model")).toThrow(/damaged\.json: corrupt: its content hashes to/);
    // ... and with the seal removed (a deliberate edit), each field is still checked.
    delete doc.sha256;
    doc.pilots[1].vector = Buffer.from(new Float32Array(2).buffer).toString("base64");
    writeFileSync(path, JSON.stringify(doc));
    expect(() => loadPilotLibrary(path, "test/model")).toThrow(/pilots\[1\]\.vector: decodes to 8 bytes, expected 12/);
    doc.pilots[1].vector = lib.pilots[1]!.vector.length;
    doc.version = 99;
    writeFileSync(path, JSON.stringify(doc));
    expect(() => loadPilotLibrary(path, "test/model")).toThrow(/version 99/);
    expect(() => loadPilotLibrary(join(dir, "absent.json"), "test/model")).toThrow(RouterRetrieverError);
  });

  it("refuses a non-finite pilot or label vector, naming the field (it would route every query to base)", () => {
    const path = join(dir, "nan.json");
    savePilotLibrary(path, lib, labels);
    const doc = JSON.parse(readFileSync(path, "utf8"));
    delete doc.sha256;
    const nanVec = (n: number): string => {
      const b = Buffer.alloc(12);
      b.writeFloatLE(1, 0);
      b.writeFloatLE(n, 4);
      return b.toString("base64");
    };
    doc.pilots[0].vector = nanVec(Number.NaN);
    writeFileSync(path, JSON.stringify(doc));
    expect(() => loadPilotLibrary(path, "test/model")).toThrow(/nan\.json: pilots\[0\]\.vector: component 1 is NaN/);
    savePilotLibrary(path, lib, labels);
    const doc2 = JSON.parse(readFileSync(path, "utf8"));
    delete doc2.sha256;
    doc2.labels.items[2].vector = nanVec(Number.POSITIVE_INFINITY);
    writeFileSync(path, JSON.stringify(doc2));
    expect(() => loadPilotLibrary(path, "test/model")).toThrow(/labels\.items\[2\]\.vector: component 1 is Infinity/);
  });

  it("refuses labels of another library", () => {
    expect(() => savePilotLibrary(join(dir, "x.json"), { ...lib, baseModelId: "other" }, labels)).toThrow(/do not belong/);
  });
});
