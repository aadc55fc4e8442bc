/**
 * pgvector's hnsw.ef_search as a user option: its default and its checks, in a module that does
 * not load the `pg` driver (the CLI and openStore check options before any store is opened).
 */
import { RouterRetrieverError } from "../../errors.js";

/**
 * pgvector's hnsw.ef_search for our queries. On scifact its own default (40) measured 0.9857
 * recall@10 against the exact scan, 100 measured 0.9977 with nDCG@10 equal to the exact flat
 * store's (bench/store.ts --scifact, bench/results/store-scifact.json).
 */
export const DEFAULT_EF_SEARCH = 100;

/** The largest hnsw.ef_search pgvector accepts (its range is 1..1000). */
export const MAX_EF_SEARCH = 1000;

/** Throws BAD_INPUT naming `name` (the option or flag) unless `value` is an integer 1..MAX_EF_SEARCH. */
export function checkEfSearch(value: unknown, name: string): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_EF_SEARCH) {
    const shown = typeof value === "string" ? `"${value}"` : String(value);
    throw new RouterRetrieverError("BAD_INPUT", `${name} must be an integer from 1 to ${MAX_EF_SEARCH} (pgvector's hnsw.ef_search range), got ${shown}`);
  }
  return n;
}

/**
 * The ef_search one search runs with: the configured value, raised to k (pgvector's HNSW scan
 * returns at most ef_search rows, so a smaller list would cut the results short), at most
 * MAX_EF_SEARCH.
 */
export function efSearchFor(efSearch: number, k: number): number {
  return Math.min(MAX_EF_SEARCH, Math.max(efSearch, k));
}
