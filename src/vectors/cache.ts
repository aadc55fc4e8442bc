import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import type { JsonValue } from "../util/json.js";
import { createIndex, openIndex, MANIFEST_FILE, type VectorIndex } from "./store.js";

/*
 * Corpus-embedding cache: one vector index per cache key, in <cacheDir>/<key>/. The key hashes
 * everything that determines the vectors, so a hit can be trusted without re-encoding, and a
 * changed corpus or model simply lands in a different folder.
 *
 * Progress is the index's own commit: every chunk is appended and committed (manifest last, see
 * store.ts), with manifest.meta = { cacheKey, total, complete }. An interrupted run therefore
 * leaves a valid index holding a prefix of the corpus, and the next run continues after it.
 * Chunks are aligned to absolute multiples of chunkSize, so a resumed run hands the encoder
 * exactly the batches an uninterrupted run would have (padding, and hence float rounding, can
 * depend on batch composition).
 *
 * Each distinct text is encoded once, in the chunk of its first occurrence; a later document
 * with the same text gets a copy of that row. Identical texts thus get bit-identical vectors
 * and tie exactly, so trec_eval's tie order (by doc id) decides between them, not float noise
 * from the batches they happened to land in (CoSQA: 20,604 documents, 6,267 distinct texts).
 * Entries written before this rule may hold twins that differ in the last bits; they are
 * equally valid encodings of the same key (the key covers what determines the vectors up to
 * float rounding, which already varies with thread count), so they are kept, and their twins
 * are made identical in memory when loaded.
 */

export interface CorpusKeyInput {
  modelId: string;
  pooling: string;
  normalized: boolean;
  maxLength: number | null;
  ids: readonly string[];
  texts: readonly string[];
  /** Anything else that changes the vectors (query/passage prefix, expert adapter, ...). */
  extra?: JsonValue;
}

/** sha256 hex over the encoding settings and every (doc id, text) pair in order. */
export function corpusCacheKey(input: CorpusKeyInput): string {
  if (input.ids.length !== input.texts.length) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `corpusCacheKey: ${input.ids.length} ids but ${input.texts.length} texts`);
  }
  const h = createHash("sha256");
  h.update(
    JSON.stringify({
      key: "routerretriever-corpus-cache/1",
      modelId: input.modelId,
      pooling: input.pooling,
      normalized: input.normalized,
      maxLength: input.maxLength,
      extra: input.extra ?? null,
    }) + "\n",
  );
  // JSON string encoding escapes every separator, so distinct corpora cannot collide by
  // shifting text between fields or documents.
  for (let i = 0; i < input.ids.length; i++) h.update(JSON.stringify([input.ids[i], input.texts[i]]) + "\n");
  return h.digest("hex");
}

export interface CacheModelSpec {
  modelId: string;
  pooling: string;
  normalized: boolean;
  dims: number;
}

export interface CacheProgress {
  /** Documents committed to the cache so far (including those from earlier runs). */
  done: number;
  total: number;
  /** Where this run started (documents already committed by an earlier run). */
  resumedFrom: number;
}

export interface EncodeCorpusOptions extends CacheModelSpec {
  cacheDir: string;
  /** Defaults to corpusCacheKey over the spec, maxLength and the corpus. */
  key?: string;
  /** Part of the default key; ignored when `key` is given. */
  maxLength?: number;
  /** Part of the default key (see CorpusKeyInput.extra); ignored when `key` is given. */
  extra?: JsonValue;
  ids: readonly string[];
  texts: readonly string[];
  /** Encodes texts into texts.length * dims floats, row-major. */
  encodeBatch: (texts: string[]) => Promise<Float32Array>;
  /** Documents per committed chunk (default 512): the most work an interruption can lose. */
  chunkSize?: number;
  onProgress?: (progress: CacheProgress) => void;
  /** Hash-check a stored entry before trusting it (default true; ~0.1 s per 40 MB). */
  verify?: boolean;
}

export interface CachedCorpus {
  index: VectorIndex;
  key: string;
  dir: string;
  /** True when the whole corpus came from the cache and nothing was encoded. */
  hit: boolean;
  /** Documents already committed when this run started. */
  resumedFrom: number;
  /** Texts encoded by this run: distinct texts, so fewer than the documents when texts repeat. */
  encoded: number;
  /** Why a stored entry was thrown away and rebuilt (corrupt, different content), if it was. */
  discarded?: string;
}

interface CacheMeta {
  cacheKey: string;
  total: number;
  complete: boolean;
}

/**
 * Encodes a corpus through the cache: returns the stored vectors when the key is complete,
 * otherwise encodes what is missing chunk by chunk, committing each chunk, and resumes after the
 * last committed chunk when a previous run was interrupted.
 */
export async function encodeCorpusCached(options: EncodeCorpusOptions): Promise<CachedCorpus> {
  const { cacheDir, ids, texts, dims, encodeBatch, onProgress } = options;
  if (ids.length !== texts.length) {
    throw new RouterRetrieverError("SHAPE_MISMATCH", `encodeCorpusCached: ${ids.length} ids but ${texts.length} texts`);
  }
  const chunkSize = options.chunkSize ?? 512;
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
    throw new RouterRetrieverError("BAD_INPUT", `encodeCorpusCached: chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const key =
    options.key ??
    corpusCacheKey({ ...options, maxLength: options.maxLength ?? null });
  const total = ids.length;
  const entry = openEntry(cacheDir, key, options, options.verify ?? true, (index) => {
    if (index.size > total) return "stored entry holds more documents than the corpus";
    for (let i = 0; i < index.size; i++) {
      if (index.ids[i] !== ids[i]) return `stored doc id "${index.ids[i]}" at row ${i} differs from the corpus ("${ids[i]}")`;
    }
    return undefined;
  });
  const { index } = entry;
  const resumedFrom = index.size;
  const firstRow = firstOccurrences(texts);
  if (entry.complete && resumedFrom === total) {
    makeTwinsIdentical(index, firstRow);
    return { index, key, dir: entry.dir, hit: true, resumedFrom, encoded: 0, ...discardedField(entry.discarded) };
  }

  let start = resumedFrom;
  let encoded = 0;
  do {
    const end = Math.min(total, (Math.floor(start / chunkSize) + 1) * chunkSize);
    const fresh: number[] = [];
    for (let i = start; i < end; i++) if (firstRow[i] === i) fresh.push(i);
    const encodedRows = fresh.length > 0 ? await encodeBatch(fresh.map((i) => texts[i]!)) : new Float32Array(0);
    if (encodedRows.length !== fresh.length * dims) {
      throw new RouterRetrieverError(
        "SHAPE_MISMATCH",
        `corpus encoder returned ${encodedRows.length} floats for ${fresh.length} texts; expected ${fresh.length} x ${dims}`,
      );
    }
    const vectors = new Float32Array((end - start) * dims);
    const slotOf = new Map(fresh.map((row, slot) => [row, slot]));
    for (let i = start; i < end; i++) {
      const src = firstRow[i]!;
      const slot = slotOf.get(src);
      const row = slot !== undefined ? encodedRows.subarray(slot * dims, (slot + 1) * dims) : index.vectors.subarray(src * dims, (src + 1) * dims);
      vectors.set(row, (i - start) * dims);
    }
    commitChunk(index, key, total, ids.slice(start, end), vectors, end === total);
    encoded += fresh.length;
    start = end;
    onProgress?.({ done: start, total, resumedFrom });
  } while (start < total);
  // Only a prefix written before the one-encoding-per-text rule can still hold differing twins.
  if (resumedFrom > 0) makeTwinsIdentical(index, firstRow);
  return { index, key, dir: entry.dir, hit: false, resumedFrom, encoded, ...discardedField(entry.discarded) };
}

/** firstRow[i]: the first row whose text equals row i's (i itself for a first occurrence). */
function firstOccurrences(texts: readonly string[]): Int32Array {
  const first = new Map<string, number>();
  const out = new Int32Array(texts.length);
  texts.forEach((t, i) => {
    const f = first.get(t);
    if (f === undefined) first.set(t, i);
    out[i] = f ?? i;
  });
  return out;
}

/**
 * Copies each first occurrence's row over its twins, in memory only: the stored entry (and its
 * checksum) stays as written. The committed-rows hash is taken first, so that a later save()
 * of this index still extends the hash of what is on disk.
 */
function makeTwinsIdentical(index: VectorIndex, firstRow: Int32Array): void {
  const d = index.dims;
  const rows = index.vectors;
  let hashed = false;
  for (let i = 0; i < firstRow.length; i++) {
    const src = firstRow[i]!;
    if (src === i) continue;
    let same = true;
    for (let t = 0; t < d && same; t++) same = rows[i * d + t] === rows[src * d + t];
    if (same) continue;
    if (!hashed) {
      index.verifyLoaded();
      hashed = true;
    }
    rows.copyWithin(i * d, src * d, (src + 1) * d);
  }
}

interface Entry {
  index: VectorIndex;
  dir: string;
  complete: boolean;
  discarded?: string;
}

/**
 * Opens the entry for `key`, or creates an empty one. A stored entry that is corrupt, belongs to
 * another key or fails `check` is rebuilt from scratch: it is a cache, and recomputing is always
 * correct. A model mismatch is not rebuilt but thrown, since under a content-derived key it means
 * the caller's key leaves out the model and would thrash between models.
 */
function openEntry(
  cacheDir: string,
  key: string,
  spec: CacheModelSpec,
  verify: boolean,
  check: (index: VectorIndex) => string | undefined,
): Entry {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(key) || key === "." || key === "..") {
    throw new RouterRetrieverError("BAD_INPUT", `corpus cache key "${key}" is not usable as a folder name`);
  }
  const dir = join(cacheDir, key);
  const fresh = (): VectorIndex =>
    createIndex(dir, { ...spec, corpusFingerprint: key }, { overwrite: true });
  if (!existsSync(join(dir, MANIFEST_FILE))) return { index: fresh(), dir, complete: false };

  let discarded: string | undefined;
  try {
    const index = openIndex(dir, { modelId: spec.modelId, dims: spec.dims, pooling: spec.pooling, normalized: spec.normalized, verify });
    const meta = readMeta(index);
    if (meta === undefined && index.committedSize > 0) discarded = "stored entry has no cache metadata";
    else if (meta !== undefined && meta.cacheKey !== key) discarded = `stored entry belongs to key ${meta.cacheKey}`;
    else discarded = check(index);
    if (discarded === undefined) return { index, dir, complete: meta?.complete ?? false };
  } catch (err) {
    if (!(err instanceof RouterRetrieverError) || err.code === "MODEL_MISMATCH") throw err;
    discarded = err.message;
  }
  return { index: fresh(), dir, complete: false, discarded };
}

function commitChunk(
  index: VectorIndex,
  key: string,
  total: number,
  ids: readonly string[],
  vectors: Float32Array,
  complete: boolean,
): void {
  if (vectors.length !== ids.length * index.dims) {
    throw new RouterRetrieverError(
      "SHAPE_MISMATCH",
      `corpus encoder returned ${vectors.length} floats for ${ids.length} texts; expected ${ids.length} x ${index.dims}`,
    );
  }
  index.add(ids, vectors);
  const meta: CacheMeta = { cacheKey: key, total, complete };
  index.setMeta({ ...meta });
  index.save();
}

function readMeta(index: VectorIndex): CacheMeta | undefined {
  const m = index.manifest.meta;
  if (m === undefined) return undefined;
  if (typeof m.cacheKey !== "string" || typeof m.total !== "number" || typeof m.complete !== "boolean") return undefined;
  return { cacheKey: m.cacheKey, total: m.total, complete: m.complete };
}

function discardedField(reason: string | undefined): { discarded?: string } {
  return reason === undefined ? {} : { discarded: reason };
}
