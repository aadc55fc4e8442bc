/**
 * Tokenisation with @huggingface/tokenizers (pure JS, ids identical to the Rust tokenizers).
 * That library ignores tokenizer.json's truncation and padding blocks, so both are done here:
 * truncate to the model's max length keeping the first ([CLS]) and last ([SEP]) special
 * tokens, and pad per batch.
 */
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { RouterRetrieverError } from "../errors.js";

export interface TextTokenizer {
  /** Token ids with special tokens, truncated to maxLength. */
  encode(text: string): number[];
  readonly maxLength: number;
  readonly padId: number;
}

export function loadTokenizer(tokenizerPath: string, maxLength: number, padId: number): TextTokenizer {
  let json: object;
  try {
    json = JSON.parse(readFileSync(tokenizerPath, "utf8")) as object;
  } catch (err) {
    throw new RouterRetrieverError("PARSE_ERROR", `${tokenizerPath}: ${(err as Error).message}`, { cause: err });
  }
  const configPath = join(dirname(tokenizerPath), "tokenizer_config.json");
  const config = existsSync(configPath) ? (JSON.parse(readFileSync(configPath, "utf8")) as object) : {};
  const tok = new Tokenizer(json, config);
  if (maxLength < 2) throw new RouterRetrieverError("BAD_INPUT", `max length ${maxLength} leaves no room for [CLS] and [SEP]`);
  return {
    maxLength,
    padId,
    encode(text: string): number[] {
      const ids = tok.encode(text).ids;
      if (ids.length <= maxLength) return ids;
      // Keep the leading special token and the trailing one the post-processor appended.
      const last = ids[ids.length - 1]!;
      const out = ids.slice(0, maxLength - 1);
      out.push(last);
      return out;
    },
  };
}

export interface Batch {
  /** Positions of these rows in the caller's input order. */
  readonly rows: readonly number[];
  readonly inputIds: BigInt64Array;
  readonly attentionMask: BigInt64Array;
  readonly batchSize: number;
  readonly seqLen: number;
  readonly tokens: number;
}

/**
 * Groups token sequences into padded batches of similar length (sorted by length, longest
 * first, so the first batch shows the peak memory), capped by rows and by padded tokens.
 */
export function makeBatches(seqs: readonly (readonly number[])[], padId: number, maxRows: number, maxTokens = Infinity): Batch[] {
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[b]!.length - seqs[a]!.length || a - b);
  const batches: Batch[] = [];
  let start = 0;
  while (start < order.length) {
    const seqLen = Math.max(1, seqs[order[start]!]!.length);
    let end = start + 1;
    while (end < order.length && end - start < maxRows && (end - start + 1) * seqLen <= maxTokens) end++;
    const rows = order.slice(start, end);
    const inputIds = new BigInt64Array(rows.length * seqLen).fill(BigInt(padId));
    const attentionMask = new BigInt64Array(rows.length * seqLen);
    let tokens = 0;
    rows.forEach((r, b) => {
      const s = seqs[r]!;
      for (let t = 0; t < s.length; t++) {
        inputIds[b * seqLen + t] = BigInt(s[t]!);
        attentionMask[b * seqLen + t] = 1n;
      }
      tokens += s.length;
    });
    batches.push({ rows, inputIds, attentionMask, batchSize: rows.length, seqLen, tokens });
    start = end;
  }
  return batches;
}
