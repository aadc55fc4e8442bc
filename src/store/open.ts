/** Opens a store by location: a `postgres://` (or `postgresql://`) URL, otherwise a folder. */
import type { Store, StoreSpec } from "./types.js";
import { openFlatStore } from "./flat/index.js";
import { isPostgresUrl } from "./location.js";

export { isPostgresUrl, redactStoreLocation } from "./location.js";

export interface OpenStoreOptions {
  readonly onWarning?: (message: string) => void;
  /** PostgreSQL only: exact scan instead of the HNSW index. */
  readonly exactSearch?: boolean;
  /** Flat only: checksum verification progress at open, in bytes. */
  readonly onVerifyProgress?: (doneBytes: number, totalBytes: number) => void;
}

export async function openStore(location: string, spec: StoreSpec, opts: OpenStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(location)) {
    // Loaded on demand so embedded users never load the pg driver.
    const { openPostgresStore } = await import("./postgres/index.js");
    return openPostgresStore(location, spec, opts);
  }
  return openFlatStore(location, spec, opts);
}
