/**
 * Migration of an index folder written by `routerretriever index` before the one store format:
 * manifest.json / ids.json / vectors.f32 at the top of the folder and a docs.jsonl of BEIR-style
 * {"_id","title","text"} lines holding the whole corpus (indexed or not yet). Opening such a
 * folder as a store used to find no index and would have truncated that docs.jsonl on the
 * first add; now it is converted in place, keeping every vector (no re-encoding):
 *
 *   1. build a complete new store (store.json, experts.json, index/, docs.jsonl holding the
 *      documents the old index holds, in its row order) in <dir>/.migrating/;
 *   2. rename its parts into <dir> (docs.jsonl over the old one, store.json last);
 *   3. remove the old top-level manifest.json (the old format's marker: the commit point), then
 *      ids.json and vectors.f32.
 * The old index files stay intact until step 3, so a crash at any point leaves a folder that is
 * still recognised as the old format and migrates again from scratch on the next open (the
 * docs.jsonl then read holds every indexed document in either format).
 */
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readDocumentsJsonl } from "../../data/beir.js";
import { RouterRetrieverError } from "../../errors.js";
import { IDS_FILE, INDEX_FORMAT, MANIFEST_FILE, openIndex, VECTORS_FILE } from "../../vectors/store.js";
import type { StoreSpec } from "../types.js";
import { DOCS_FILE, INDEX_DIR } from "./corpus.js";
import { REGISTRY_FILE } from "./registry.js";
import { openStoreParts, STORE_FILE } from "./store-open.js";

const WORK_DIR = ".migrating";

export function isOldIndexFolder(dir: string): boolean {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return false;
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { format?: unknown }).format === INDEX_FORMAT;
  } catch {
    return false;
  }
}

/** Converts the old-format folder `dir` in place; returns the number of documents carried over. */
export async function migrateOldIndexFolder(dir: string, spec: StoreSpec): Promise<number> {
  // Opening verifies the old index (model, dims, checksum) before anything is written.
  const old = openIndex(dir, { modelId: spec.modelId, dims: spec.dims, pooling: spec.pooling, normalized: spec.normalized, verify: true });
  const docsPath = join(dir, DOCS_FILE);
  const byId = new Map(existsSync(docsPath) ? (await readDocumentsJsonl(docsPath)).map((d) => [d.id, d] as const) : []);
  const missing = old.ids.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw new RouterRetrieverError(
      "PARSE_ERROR",
      `${dir}: cannot migrate this old-format index folder: ${docsPath} lacks ${missing.length} of its ${old.size} indexed documents (first: "${missing[0]}"); ` +
        `nothing was changed. Rebuild it with \`routerretriever index <corpus> --store <new folder>\``,
    );
  }
  const work = join(dir, WORK_DIR);
  rmSync(work, { recursive: true, force: true });
  const fresh = openStoreParts(work, { spec }).corpus;
  const docs = old.ids.map((id) => byId.get(id)!);
  const d = old.dims;
  const chunk = 4096;
  for (let i = 0; i < docs.length; i += chunk) fresh.append(docs.slice(i, i + chunk), old.vectors.slice(i * d, Math.min(docs.length, i + chunk) * d));
  rmSync(join(dir, INDEX_DIR), { recursive: true, force: true }); // a crashed earlier migration's
  renameSync(join(work, INDEX_DIR), join(dir, INDEX_DIR));
  renameSync(join(work, DOCS_FILE), docsPath);
  renameSync(join(work, REGISTRY_FILE), join(dir, REGISTRY_FILE));
  renameSync(join(work, STORE_FILE), join(dir, STORE_FILE));
  rmSync(join(dir, MANIFEST_FILE));
  rmSync(join(dir, IDS_FILE), { force: true });
  rmSync(join(dir, VECTORS_FILE), { force: true });
  rmSync(work, { recursive: true, force: true });
  return docs.length;
}
