/**
 * Fixtures for trainer tests: the tiny random BERT with a word-hashing tokenizer (a real
 * LoadedModel, so Encoder, ExpertEncoder and the training graph all run on it), and small
 * synthetic BEIR folders written to disk.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LoadedModel } from "../../src/model/encoder.js";
import type { TextTokenizer } from "../../src/model/tokenizer.js";
import { rng } from "../../src/util/random.js";
import { TINY_BERT_CONFIG, TINY_BERT_SPEC, tinyBertWeights } from "./tiny-bert.js";

const CLS = 1;
const SEP = 2;

/** [CLS] word ids [SEP]: each word hashed to one of the tiny vocabulary's ids 3..vocab-1. */
export const wordTokenizer: TextTokenizer = {
  maxLength: TINY_BERT_SPEC.maxLength,
  padId: 0,
  encode(text: string): number[] {
    const ids = text
      .toLowerCase()
      .split(/\W+/)
      .filter((w) => w !== "")
      .map((w) => {
        let h = 2166136261;
        for (const ch of w) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
        return 3 + ((h >>> 0) % (TINY_BERT_CONFIG.vocabSize - 3));
      });
    return [CLS, ...ids.slice(0, TINY_BERT_SPEC.maxLength - 2), SEP];
  },
};

export function tinyModel(seed = 5): LoadedModel {
  return { spec: TINY_BERT_SPEC, weights: tinyBertWeights(seed), tokenizer: wordTokenizer };
}

const WORDS = "alpha beta gamma delta omega kappa sigma theta lambda zeta iota rho tau phi chi psi".split(" ");

export interface TinyDatasetOptions {
  readonly docs: number;
  /** Training queries, each judging one document (several queries may judge the same one). */
  readonly trainQueries: number;
  readonly devQueries: number;
  readonly seed: number;
}

/**
 * A BEIR folder: corpus.jsonl, queries.jsonl, qrels/train.tsv and qrels/dev.tsv. Documents are
 * random word strings; a query is a few words of its document, so there is something to learn.
 */
export function writeTinyDataset(dir: string, o: TinyDatasetOptions): string {
  const rand = rng(o.seed);
  const pick = (): string => WORDS[Math.floor(rand() * WORDS.length)]!;
  mkdirSync(join(dir, "qrels"), { recursive: true });
  const docs = Array.from({ length: o.docs }, (_, i) => ({ _id: `d${i}`, title: "", text: Array.from({ length: 8 }, pick).join(" ") }));
  const queries: Array<{ _id: string; text: string; doc: string }> = [];
  for (let q = 0; q < o.trainQueries + o.devQueries; q++) {
    const d = docs[Math.floor(rand() * docs.length)]!;
    const words = d.text.split(" ");
    const start = Math.floor(rand() * 5);
    queries.push({ _id: `q${q}`, text: words.slice(start, start + 3).join(" "), doc: d._id });
  }
  const jsonl = (rows: object[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  writeFileSync(join(dir, "corpus.jsonl"), jsonl(docs));
  writeFileSync(join(dir, "queries.jsonl"), jsonl(queries.map(({ _id, text }) => ({ _id, text }))));
  const qrels = (rows: typeof queries): string => "query-id\tcorpus-id\tscore\n" + rows.map((q) => `${q._id}\t${q.doc}\t1\n`).join("");
  writeFileSync(join(dir, "qrels", "train.tsv"), qrels(queries.slice(0, o.trainQueries)));
  writeFileSync(join(dir, "qrels", "dev.tsv"), qrels(queries.slice(o.trainQueries)));
  return dir;
}
