/**
 * A store's identity file, and the one message for a part that carries another store's id: which
 * of the two files is the stranger cannot be told from inside the store, so it names both.
 */
import { RouterRetrieverError } from "../../errors.js";

export const STORE_FILE = "store.json";

export function foreignStoreError(path: string, owner: string, storeId: string, restore: string): RouterRetrieverError {
  return new RouterRetrieverError(
    "PARSE_ERROR",
    `${path} belongs to store ${owner}, but ${STORE_FILE} says this is store ${storeId}: one of the two was copied in from another store. ` +
      `Restore ${restore} (or ${STORE_FILE}) from this store's backup.`,
  );
}
