/** Opens a store by location: a `postgres://` (or `postgresql://`) URL, otherwise a folder. */
import type { Store, StoreSpec } from "./types.js";
import { openFlatStore } from "./flat/index.js";
import { isPostgresUrl } from "./location.js";
import { checkEfSearch } from "./postgres/ef-search.js";
import { RouterRetrieverError } from "../errors.js";

export { isPostgresUrl, redactStoreLocation } from "./location.js";

export interface OpenStoreOptions {
  readonly onWarning?: (message: string) => void;
  /** PostgreSQL only: exact scan instead of the HNSW index. */
  readonly exactSearch?: boolean;
  /** PostgreSQL only: pgvector hnsw.ef_search, 1..1000 (default 100); not with exactSearch. */
  readonly efSearch?: number;
  /** Flat only: checksum verification progress at open, in bytes. */
  readonly onVerifyProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** The checks openStore makes on its options, for callers that want them before loading a model. */
export function checkStoreOptions(location: string, opts: Pick<OpenStoreOptions, "exactSearch" | "efSearch">): void {
  if (opts.efSearch === undefined) return;
  if (!isPostgresUrl(location)) {
    throw new RouterRetrieverError("BAD_INPUT", `efSearch applies to a PostgreSQL store's HNSW index; ${location} is a store folder, which is always searched exactly`);
  }
  checkEfSearch(opts.efSearch, "efSearch");
  if (opts.exactSearch) throw new RouterRetrieverError("BAD_INPUT", "efSearch and exactSearch exclude each other: the exact scan does not use the HNSW index");
}

export async function openStore(location: string, spec: StoreSpec, opts: OpenStoreOptions = {}): Promise<Store> {
  checkStoreOptions(location, opts);
  if (isPostgresUrl(location)) {
    // Loaded on demand so embedded users never load the pg driver.
    const { openPostgresStore } = await import("./postgres/index.js");
    return openPostgresStore(location, spec, opts);
  }
  return openFlatStore(location, spec, opts);
}
