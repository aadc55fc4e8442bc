import { describe, expect, it } from "vitest";
import { loadTokenizer, makeBatches } from "./tokenizer.js";
import { defaultModelSpec } from "./spec.js";

describe("tokenizer", () => {
  const spec = defaultModelSpec();
  const tok = loadTokenizer(spec.tokenizerPath, 16, 0);

  it("truncates long input keeping [CLS] first and [SEP] last", () => {
    const ids = tok.encode("word ".repeat(100));
    expect(ids).toHaveLength(16);
    expect(ids[0]).toBe(101);
    expect(ids[15]).toBe(102);
    expect(ids.slice(1, 15).every((x) => x !== 102)).toBe(true);
  });

  it("leaves short input alone", () => {
    expect(tok.encode("hello world")).toEqual([101, 7592, 2088, 102]);
  });
});

describe("makeBatches", () => {
  it("sorts by length, pads per batch, and maps rows back to input order", () => {
    const seqs = [[1, 2], [1, 2, 3, 4, 5], [1], [1, 2, 3]];
    const batches = makeBatches(seqs, 0, 2);
    expect(batches.map((b) => b.rows)).toEqual([[1, 3], [0, 2]]);
    const [first, second] = batches;
    expect(first!.seqLen).toBe(5);
    expect([...first!.inputIds].map(Number)).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 0, 0]);
    expect([...first!.attentionMask].map(Number)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(second!.seqLen).toBe(2);
    expect(batches.flatMap((b) => b.rows).sort()).toEqual([0, 1, 2, 3]);
  });

  it("caps padded tokens per batch", () => {
    const seqs = Array.from({ length: 10 }, () => [1, 2, 3, 4]);
    const batches = makeBatches(seqs, 0, 100, 12);
    expect(batches.every((b) => b.batchSize * b.seqLen <= 12)).toBe(true);
    expect(batches.reduce((n, b) => n + b.batchSize, 0)).toBe(10);
  });
});
