/**
 * Self-checksummed JSON files: `sha256` holds the hash of the document's JSON.stringify form
 * without that field. JSON.parse then JSON.stringify reproduces the exact string for anything
 * JSON.stringify wrote (key order and number formatting round-trip), so an edit in place that
 * still parses (a flipped digit, a changed name) is caught on read. Files without the field
 * (written before it existed, or edited on purpose with it removed) are accepted as they are.
 */
import { createHash } from "node:crypto";
import { RouterRetrieverError } from "../errors.js";

export const SEAL_FIELD = "sha256";

function digest(doc: Record<string, unknown>): string {
  const { [SEAL_FIELD]: _drop, ...rest } = doc;
  return "sha256:" + createHash("sha256").update(JSON.stringify(rest), "utf8").digest("hex");
}

export function seal<T extends Record<string, unknown>>(doc: T): T & { sha256: string } {
  return { ...doc, [SEAL_FIELD]: digest(doc) };
}

/** Throws PARSE_ERROR naming `path` when the document carries a seal that does not match. */
export function checkSeal(doc: Record<string, unknown>, path: string): void {
  const want = doc[SEAL_FIELD];
  if (want === undefined) return;
  const actual = digest(doc);
  if (want !== actual) {
    throw new RouterRetrieverError(
      "PARSE_ERROR",
      `${path}: corrupt: its content hashes to ${actual}, its "${SEAL_FIELD}" field says ${String(want).slice(0, 80)}. Restore it from a backup (or, if you edited it on purpose, delete the "${SEAL_FIELD}" field).`,
    );
  }
}
