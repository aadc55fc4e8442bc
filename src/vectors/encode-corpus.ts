/**
 * The base vectors of a corpus, the one way to get them: through the on-disk cache, encoded once
 * per (model, corpus) and each distinct text once (cache.ts), reused by evaluation, training
 * (documents are the frozen base's vectors), pilot building and serving.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { documentText, type Doc } from "../data/beir.js";
import type { Encoder } from "../model/encoder.js";
import { encodeCorpusCached, type CachedCorpus, type CacheProgress } from "./cache.js";

/** A BEIR document; without a title its text is embedded as it is (documentText is idempotent). */
export type CorpusDoc = Pick<Doc, "id" | "text"> & { readonly title?: string };

/** ROUTERRETRIEVER_CACHE, else ~/.cache/routerretriever. */
export function defaultCacheDir(): string {
  return process.env.ROUTERRETRIEVER_CACHE ?? join(homedir(), ".cache", "routerretriever");
}

export interface CorpusVectorsOptions {
  readonly cacheDir?: string;
  readonly onProgress?: (p: CacheProgress) => void;
  readonly batchSize?: number;
}

/** Row i is the base embedding of `documentText(docs[i])`. */
export async function corpusVectors(encoder: Encoder, docs: readonly CorpusDoc[], opts: CorpusVectorsOptions = {}): Promise<CachedCorpus> {
  const spec = encoder.spec;
  return encodeCorpusCached({
    cacheDir: join(opts.cacheDir ?? defaultCacheDir(), "corpus"),
    modelId: spec.id,
    pooling: spec.pooling,
    normalized: spec.normalize,
    dims: encoder.dims,
    maxLength: spec.maxLength,
    // fp32 adds nothing, so fp32 keys (and every existing cache entry) stay as they were; int8
    // names its activation scheme, so vectors from the older per-tensor graph are never reused.
    ...(encoder.precision === "fp32" ? {} : { extra: { precision: encoder.precision, activations: encoder.int8Activations } }),
    ids: docs.map((d) => d.id),
    texts: docs.map((d) => documentText({ title: d.title ?? "", text: d.text })),
    encodeBatch: (texts) => encoder.encode(texts, { batchSize: opts.batchSize }),
    onProgress: opts.onProgress,
  });
}
