import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { loadModel, type LoadedModel } from "../model/encoder.js";
import { writeSafetensors, type Tensor } from "../model/safetensors.js";
import { defaultModelSpec, DEFAULT_MODEL_ID } from "../model/spec.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { initLora, randomExpert, zeroExpert } from "./init.js";
import { loadExpert, peftAdapterConfig, peftTensors, saveExpert, sameModelId, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, EXPERT_META_FILE } from "./peft.js";
import type { LoraConfig, LoraExpert } from "./types.js";

const dir = mkdtempSync(join(tmpdir(), "rr-experts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let base: LoadedModel;
beforeAll(() => {
  base = loadModel(defaultModelSpec());
});

const CFG: LoraConfig = { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "value"] };

/** The raw safetensors header, to check names/shapes/dtypes as another reader would see them. */
function header(path: string): Record<string, { dtype: string; shape: number[] } | Record<string, string>> {
  const buf = readFileSync(path);
  const len = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + len).toString("utf8"));
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function catchErr(f: () => unknown): RouterRetrieverError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(RouterRetrieverError);
    return err as RouterRetrieverError;
  }
  throw new Error("expected a RouterRetrieverError, nothing was thrown");
}

/** Writes an adapter folder by hand, as a foreign (Python) writer would. */
function writeAdapter(name: string, tensors: Map<string, Tensor>, config: Record<string, unknown>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeSafetensors(join(d, ADAPTER_WEIGHTS_FILE), tensors, { format: "pt" });
  writeJsonAtomic(join(d, ADAPTER_CONFIG_FILE), config);
  return d;
}

describe("PEFT layout", () => {
  it("round-trips bit-identically with PEFT's exact tensor names, shapes and config fields", () => {
    const expert: LoraExpert = {
      ...randomExpert(base, CFG, 7, { id: "scifact" }),
      meta: { domain: "scifact", training: { description: "BEIR scifact train qrels", pairs: 919 }, metrics: { ndcg10: 0.61 }, createdAt: "2025-01-02T03:04:05.000Z" },
    };
    const out = join(dir, "roundtrip");
    saveExpert(out, expert);
    expect(readdirSync(out).sort()).toEqual([ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, EXPERT_META_FILE]);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]); // the temp folder was renamed, not left

    const h = header(join(out, ADAPTER_WEIGHTS_FILE));
    expect(h.__metadata__).toEqual({ format: "pt" });
    const keys = Object.keys(h).filter((k) => k !== "__metadata__").sort();
    const want: string[] = [];
    for (let l = 0; l < 6; l++) for (const m of ["query", "value"]) for (const ab of ["A", "B"]) want.push(`base_model.model.encoder.layer.${l}.attention.self.${m}.lora_${ab}.weight`);
    expect(keys).toEqual(want.sort());
    expect(h["base_model.model.encoder.layer.0.attention.self.query.lora_A.weight"]).toMatchObject({ dtype: "F32", shape: [8, 384] });
    expect(h["base_model.model.encoder.layer.0.attention.self.query.lora_B.weight"]).toMatchObject({ dtype: "F32", shape: [384, 8] });
    expect(h["base_model.model.encoder.layer.5.attention.self.value.lora_A.weight"]).toMatchObject({ dtype: "F32", shape: [8, 384] });
    expect(keys.some((k) => k.includes("default"))).toBe(false);

    const cfg = JSON.parse(readFileSync(join(out, ADAPTER_CONFIG_FILE), "utf8"));
    expect(cfg).toMatchObject({
      peft_type: "LORA", task_type: "FEATURE_EXTRACTION", r: 8, lora_alpha: 32, lora_dropout: 0.1, target_modules: ["query", "value"],
      bias: "none", base_model_name_or_path: DEFAULT_MODEL_ID, fan_in_fan_out: false, inference_mode: true, modules_to_save: null,
      init_lora_weights: true, use_rslora: false, use_dora: false, rank_pattern: {}, alpha_pattern: {},
    });
    expect(Object.keys(cfg)).toEqual(Object.keys(cfg).sort()); // PEFT writes sort_keys=True
    const meta = JSON.parse(readFileSync(join(out, EXPERT_META_FILE), "utf8"));
    expect(meta).toMatchObject({ id: "scifact", baseModelId: DEFAULT_MODEL_ID, domain: "scifact", metrics: { ndcg10: 0.61 } });

    const back = loadExpert(out, base);
    expect(back.id).toBe("scifact");
    expect(back.config).toEqual(CFG);
    expect(back.baseModelId).toBe(DEFAULT_MODEL_ID);
    expect(back.meta).toEqual(expert.meta);
    expect([...back.weights.keys()].sort()).toEqual([...expert.weights.keys()].sort());
    for (const [m, w] of expert.weights) {
      expect(bitsEqual(back.weights.get(m)!.A, w.A), `${m} A`).toBe(true);
      expect(bitsEqual(back.weights.get(m)!.B, w.B), `${m} B`).toBe(true);
    }

    // Saving over an existing expert folder updates it in place (each file atomically).
    saveExpert(out, { ...expert, config: { ...CFG, alpha: 16 } });
    expect(loadExpert(out, base).config.alpha).toBe(16);
  });

  it("refuses to write an expert into a non-empty folder that is not an adapter", () => {
    const d = join(dir, "not-an-adapter");
    mkdirSync(d);
    writeFileSync(join(d, "notes.txt"), "mine");
    expect(catchErr(() => saveExpert(d, zeroExpert(base, CFG))).code).toBe("CONFLICT");
  });

  it("refuses a tensor whose shape does not fit the base, naming file, tensor and both shapes", () => {
    const tensors = peftTensors(randomExpert(base, CFG, 1));
    const key = "base_model.model.encoder.layer.0.attention.self.query.lora_A.weight";
    tensors.set(key, { shape: [8, 768], data: new Float32Array(8 * 768) });
    const d = writeAdapter("wrong-in", tensors, peftAdapterConfig(randomExpert(base, CFG, 1)));
    const err = catchErr(() => loadExpert(d, base));
    expect(err.code).toBe("SHAPE_MISMATCH");
    expect(err.message).toContain(join(d, ADAPTER_WEIGHTS_FILE));
    expect(err.message).toContain(key);
    expect(err.message).toContain("[8, 768]");
    expect(err.message).toContain("[8, 384]");
  });

  it("refuses a rank that disagrees with adapter_config.json", () => {
    const e = randomExpert(base, CFG, 2);
    const tensors = peftTensors(e);
    const key = "base_model.model.encoder.layer.3.attention.self.value.lora_B.weight";
    tensors.set(key, { shape: [384, 4], data: new Float32Array(384 * 4) });
    const err = catchErr(() => loadExpert(writeAdapter("wrong-rank", tensors, peftAdapterConfig(e)), base));
    expect(err.code).toBe("SHAPE_MISMATCH");
    expect(err.message).toContain(key);
    expect(err.message).toContain("[384, 4]");
    expect(err.message).toContain("[384, 8]");
  });

  it("refuses a different base model unless overridden, then warns", () => {
    const e = randomExpert(base, CFG, 3);
    const d = writeAdapter("other-base", peftTensors(e), { ...peftAdapterConfig(e), base_model_name_or_path: "bert-base-uncased" });
    const err = catchErr(() => loadExpert(d, base));
    expect(err.code).toBe("MODEL_MISMATCH");
    expect(err.message).toContain("bert-base-uncased");
    const warnings: string[] = [];
    const loaded = loadExpert(d, base, { allowModelMismatch: true, onWarning: (m) => warnings.push(m) });
    expect(loaded.baseModelId).toBe("bert-base-uncased");
    expect(warnings.join("\n")).toContain("bert-base-uncased");
    // A local checkout of the same hub model is the same model.
    expect(sameModelId("/models/all-MiniLM-L6-v2/", DEFAULT_MODEL_ID)).toBe(true);
    expect(sameModelId("bert-base-uncased", DEFAULT_MODEL_ID)).toBe(false);
  });

  it("loads a bare PEFT folder (no routerretriever.json, PEFT defaults) and names it after the folder", () => {
    const e = randomExpert(base, CFG, 4);
    // What PEFT writes when target_modules was left to the architecture default and alpha/dropout to theirs.
    const d = writeAdapter("python-made", peftTensors(e), { peft_type: "LORA", r: 8, target_modules: null, base_model_name_or_path: DEFAULT_MODEL_ID, peft_version: "0.18.1" });
    const loaded = loadExpert(d, base);
    expect(loaded.id).toBe("python-made");
    expect(loaded.config).toEqual({ rank: 8, alpha: 8, dropout: 0, targetModules: ["query", "value"] });
    expect(loaded.meta).toEqual({});
  });

  it("refuses what it cannot compute: DoRA, missing tensors, unknown targets", () => {
    const e = randomExpert(base, CFG, 5);
    expect(catchErr(() => loadExpert(writeAdapter("dora", peftTensors(e), { ...peftAdapterConfig(e), use_dora: true }), base)).code).toBe("UNSUPPORTED");
    const missing = peftTensors(e);
    missing.delete("base_model.model.encoder.layer.2.attention.self.value.lora_B.weight");
    const err = catchErr(() => loadExpert(writeAdapter("missing", missing, peftAdapterConfig(e)), base));
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toContain("base_model.model.encoder.layer.2.attention.self.value.lora_B.weight");
    const qproj = catchErr(() => loadExpert(writeAdapter("qproj", peftTensors(e), { ...peftAdapterConfig(e), target_modules: ["query", "value", "q_proj"] }), base));
    expect(qproj.code).toBe("NOT_FOUND");
    expect(qproj.message).toContain("q_proj");
  });
});

describe("adapters as untrusted input", () => {
  it("refuses files that are symlinks leaving the expert folder, without echoing their content", () => {
    const e = randomExpert(base, CFG, 6);
    const d = writeAdapter("linked", peftTensors(e), peftAdapterConfig(e));
    const secret = join(dir, "secret.txt");
    writeFileSync(secret, "root:x:0:0:SECRET-CONTENT");
    rmSync(join(d, ADAPTER_CONFIG_FILE));
    symlinkSync(secret, join(d, ADAPTER_CONFIG_FILE));
    const err = catchErr(() => loadExpert(d, base));
    expect(err.code).toBe("PARSE_ERROR");
    expect(err.message).toContain("symlink to a file outside the expert folder");
    expect(err.message).not.toContain("SECRET");
    // A link inside the folder is fine (some download tools dedupe that way).
    writeFileSync(join(d, "cfg.json"), JSON.stringify(peftAdapterConfig(e)));
    rmSync(join(d, ADAPTER_CONFIG_FILE));
    symlinkSync(join(d, "cfg.json"), join(d, ADAPTER_CONFIG_FILE));
    expect(loadExpert(d, base).config.rank).toBe(8);
  });

  it("quotes no file content in JSON errors, and refuses a weights path that is a directory or has NaN", () => {
    const e = randomExpert(base, CFG, 7);
    const d = writeAdapter("badjson", peftTensors(e), peftAdapterConfig(e));
    writeFileSync(join(d, ADAPTER_CONFIG_FILE), "SECRET-CONTENT {");
    const err = catchErr(() => loadExpert(d, base));
    expect(err.message).toMatch(/adapter_config\.json: not valid JSON/);
    expect(err.message).not.toContain("SECRET");
    const dirWeights = writeAdapter("dirweights", peftTensors(e), peftAdapterConfig(e));
    rmSync(join(dirWeights, ADAPTER_WEIGHTS_FILE));
    mkdirSync(join(dirWeights, ADAPTER_WEIGHTS_FILE));
    expect(catchErr(() => loadExpert(dirWeights, base)).message).toContain("is not a regular file");
    const nan = peftTensors(e);
    const key = "base_model.model.encoder.layer.1.attention.self.query.lora_B.weight";
    nan.get(key)!.data[5] = Number.NaN;
    const nanErr = catchErr(() => loadExpert(writeAdapter("nan", nan, peftAdapterConfig(e)), base));
    expect(nanErr.code).toBe("PARSE_ERROR");
    expect(nanErr.message).toContain(key);
    expect(nanErr.message).toContain("value 5 is NaN");
  });

  it("matches target_modules regexes in linear time (RE2), as PEFT's fullmatch", () => {
    const e = randomExpert(base, CFG, 8);
    const d = writeAdapter("regex", peftTensors(e), { ...peftAdapterConfig(e), target_modules: ".*\\.(query|value)" });
    expect(loadExpert(d, base).config.targetModules).toHaveLength(12);
    // Exponential for a backtracking engine on the ~40-character module paths.
    writeFileSync(join(d, ADAPTER_CONFIG_FILE), JSON.stringify({ ...peftAdapterConfig(e), target_modules: "(.*.*)*(x+x+)+y" }));
    const t0 = performance.now();
    expect(catchErr(() => loadExpert(d, base)).message).toContain("matches no linear module");
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe("initialisation", () => {
  it("follows PEFT: A kaiming-uniform within 1/sqrt(in), B zeros; reproducible from the seed", () => {
    const w = initLora(base, CFG, 42);
    expect(w.size).toBe(12);
    const bound = 1 / Math.sqrt(384);
    for (const { A, B } of w.values()) {
      expect(A.length).toBe(8 * 384);
      expect(B.every((v) => v === 0)).toBe(true);
      expect(A.every((v) => Math.abs(v) <= bound)).toBe(true);
      const mean = A.reduce((s, v) => s + v, 0) / A.length;
      const variance = A.reduce((s, v) => s + v * v, 0) / A.length;
      expect(Math.abs(mean)).toBeLessThan(bound * 0.05);
      expect(variance).toBeCloseTo(bound * bound / 3, 4); // U(-b, b) has variance b^2/3
    }
    const again = initLora(base, CFG, 42);
    const other = initLora(base, CFG, 43);
    const m = "encoder.layer.4.attention.self.value";
    expect(bitsEqual(again.get(m)!.A, w.get(m)!.A)).toBe(true);
    expect(bitsEqual(other.get(m)!.A, w.get(m)!.A)).toBe(false);
    expect(existsSync(dir)).toBe(true);
  });
});
