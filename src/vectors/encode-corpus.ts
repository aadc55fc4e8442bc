/**
 * A corpus's base-model vectors, through the on-disk cache: encoded once per (model, corpus)
 * and reused by evaluation, training (documents are the frozen base's vectors) and serving.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { Encoder } from "../model/encoder.js";
import { encodeCorpusCached, type CachedCorpus, type CacheProgress } from "./cache.js";

export interface CorpusDoc {
  readonly id: string;
  readonly text: string;
}

/** ROUTERRETRIEVER_CACHE, else ~/.cache/routerretriever. */
export function defaultCacheDir(): string {
  return process.env.ROUTERRETRIEVER_CACHE ?? join(homedir(), ".cache", "routerretriever");
}

export async function corpusVectors(
  encoder: Encoder,
  docs: readonly CorpusDoc[],
  opts: { cacheDir?: string; onProgress?: (p: CacheProgress) => void; batchSize?: number } = {},
): Promise<CachedCorpus> {
  const spec = encoder.spec;
  return encodeCorpusCached({
    cacheDir: join(opts.cacheDir ?? defaultCacheDir(), "corpus"),
    modelId: spec.id,
    pooling: spec.pooling,
    normalized: spec.normalize,
    dims: encoder.dims,
    maxLength: spec.maxLength,
    // fp32 adds nothing, so fp32 keys (and every existing cache entry) stay as they were.
    ...(encoder.precision === "fp32" ? {} : { extra: { precision: encoder.precision } }),
    ids: docs.map((d) => d.id),
    texts: docs.map((d) => d.text),
    encodeBatch: (texts) => encoder.encode(texts, { batchSize: opts.batchSize }),
    onProgress: opts.onProgress,
  });
}
