/**
 * Reads documents to add from a JSON-lines file: one {"id" (or BEIR's "_id"), "title", "text"}
 * object per line; blank lines skipped; errors name the file and line.
 */
import { readFileSync } from "node:fs";
import { parseError } from "../errors.js";
import type { StoredDocument } from "../engine/types.js";

export function readDocumentsJsonl(path: string): StoredDocument[] {
  const out: StoredDocument[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch (err) {
        throw parseError(path, i + 1, `invalid JSON: ${(err as Error).message}`);
      }
      const id = o.id ?? o._id;
      if (typeof id !== "string" || id === "") throw parseError(path, i + 1, `"id" must be a non-empty string`);
      if (o.title !== undefined && typeof o.title !== "string") throw parseError(path, i + 1, `"title" must be a string`);
      if (typeof o.text !== "string") throw parseError(path, i + 1, `"text" must be a string`);
      out.push({ id, title: (o.title as string | undefined) ?? "", text: o.text });
    });
  return out;
}
