import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { parseBertConfig } from "./spec.js";

const dir = mkdtempSync(join(tmpdir(), "rr-spec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BERT = { vocab_size: 30522, hidden_size: 384, num_hidden_layers: 6, num_attention_heads: 12, intermediate_size: 1536, max_position_embeddings: 512 };

function config(extra: Record<string, unknown>): string {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ ...BERT, ...extra }));
  return path;
}

function refusal(path: string): RouterRetrieverError {
  try {
    parseBertConfig(path);
  } catch (err) {
    expect(err).toBeInstanceOf(RouterRetrieverError);
    return err as RouterRetrieverError;
  }
  throw new Error("expected a refusal");
}

describe("model types", () => {
  it("reads BERT, with or without model_type", () => {
    expect(parseBertConfig(config({ model_type: "bert" })).hiddenSize).toBe(384);
    expect(parseBertConfig(config({})).numLayers).toBe(6);
  });

  it("refuses BERT relatives that would embed silently wrong, by name and with the reason", () => {
    for (const type of ["roberta", "xlm-roberta", "camembert"]) {
      const path = config({ model_type: type });
      const err = refusal(path);
      expect(err.code).toBe("UNSUPPORTED");
      expect(err.message).toContain(path);
      expect(err.message).toContain(`model_type "${type}" is not supported`);
      expect(err.message).toContain("padding_idx + 1");
    }
    expect(refusal(config({ model_type: "electra" })).message).toMatch(/electra\.\*/);
    expect(refusal(config({ model_type: "distilbert" })).message).toMatch(/DistilBERT/);
  });

  it("refuses a made-up model type as not a model this engine runs", () => {
    const err = refusal(config({ model_type: "distilbert-free-bert" }));
    expect(err.code).toBe("UNSUPPORTED");
    expect(err.message).toMatch(/model_type "distilbert-free-bert" is not a model this engine runs; only BERT encoders/);
  });
});
