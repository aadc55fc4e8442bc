/**
 * Opening a flat store's files, with every open-time integrity check in one place (issue 12):
 *
 *   store.json     the store's identity: model id and a random store id; written LAST at
 *                  creation, after the empty registry and index, so it marks a complete store
 *   experts.json   expert registry (sealed, carries the store id; required once store.json says so)
 *   index/         vectors + ids + manifest: checksum verified on open (streamed, with progress)
 *   docs.jsonl     documents: committed bytes hashed against the manifest's docsSha256
 *   pilots.json    the store's own pilot library, if it derived one (sealed, carries the store id)
 *
 * Parts that disagree are refused with a message naming the file and how to recover, never
 * opened as an empty store (which the next write would turn into data loss). Temp files a
 * crashed writer left behind are removed first (only those of processes no longer alive).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import type { IndexSpec } from "../../vectors/store.js";
import { MANIFEST_FILE } from "../../vectors/store.js";
import { writeJsonAtomic } from "../../util/atomic.js";
import { CorpusStore, DOCS_FILE, INDEX_DIR } from "./corpus.js";
import { ExpertRegistry, REGISTRY_FILE } from "./registry.js";

/** The store's own pilot-library copy (PilotState in engine/components/pilot-state.ts writes it). */
export const STORE_PILOTS_FILE = "pilots.json";

export const STORE_FILE = "store.json";
const STORE_FORMAT = "routerretriever-store";
/** Version 2: the store has an id and was created with its registry. */
const STORE_VERSION = 2;

export interface StoreParts {
  readonly storeId: string | undefined;
  readonly corpus: CorpusStore;
  readonly registry: ExpertRegistry;
  /** Temp files of dead writers removed at open. */
  readonly tempFilesRemoved: readonly string[];
}

export interface StorePartsOptions {
  readonly spec: IndexSpec;
  /** Checksum verification progress, in bytes. */
  readonly onVerifyProgress?: (doneBytes: number, totalBytes: number) => void;
}

export function openStoreParts(storeDir: string, opts: StorePartsOptions): StoreParts {
  mkdirSync(storeDir, { recursive: true });
  const tempFilesRemoved = [...cleanStaleTempFiles(storeDir), ...cleanStaleTempFiles(join(storeDir, INDEX_DIR))];
  const info = readOrCreateStoreFile(storeDir, opts.spec.modelId);
  const corpus = CorpusStore.open(storeDir, opts.spec, { storeId: info.storeId, onVerifyProgress: opts.onVerifyProgress });
  const registry = ExpertRegistry.open(storeDir, { storeId: info.storeId, required: info.version >= STORE_VERSION });
  return { storeId: info.storeId, corpus, registry, tempFilesRemoved };
}

/** store.json's content; creates a new store's files when there is no store here yet. */
function readOrCreateStoreFile(storeDir: string, modelId: string): { storeId: string | undefined; version: number } {
  const path = join(storeDir, STORE_FILE);
  if (!existsSync(path)) {
    const data = dataPresent(storeDir);
    if (data.length > 0) {
      throw new RouterRetrieverError(
        "PARSE_ERROR",
        `${path} is missing but the store holds ${data.join(", ")}: refusing to treat it as a new store. ` +
          `Restore ${STORE_FILE} from a backup (it names the model the vectors were made with).`,
      );
    }
    // A new store (or one whose creation was cut short, which holds no data either): the
    // empty registry and index first, store.json last.
    const storeId = randomBytes(8).toString("hex");
    ExpertRegistry.create(storeDir, storeId);
    writeJsonAtomic(path, { format: STORE_FORMAT, version: STORE_VERSION, storeId, modelId, createdAt: new Date().toISOString() });
    return { storeId, version: STORE_VERSION };
  }
  let m: { format?: unknown; version?: unknown; modelId?: unknown; storeId?: unknown };
  try {
    m = JSON.parse(readFileSync(path, "utf8")) as typeof m;
  } catch (err) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt (${err instanceof SyntaxError ? "not valid JSON" : (err as Error).message}); restore it from a backup`, { cause: err });
  }
  if (typeof m !== "object" || m === null || m.format !== STORE_FORMAT) throw new RouterRetrieverError("PARSE_ERROR", `${path}: not a RouterRetriever store (format ${JSON.stringify(m?.format)})`);
  if (m.modelId !== modelId) {
    throw new RouterRetrieverError("MODEL_MISMATCH", `${storeDir} was built with model "${String(m.modelId)}", but "${modelId}" is loaded; use a new store folder`);
  }
  const version = typeof m.version === "number" ? m.version : 1;
  if (version >= STORE_VERSION && typeof m.storeId !== "string") throw new RouterRetrieverError("PARSE_ERROR", `${path}: storeId missing; restore it from a backup`);
  return { storeId: typeof m.storeId === "string" ? m.storeId : undefined, version };
}

/** What a store without store.json must not have: anything a previous open would have written. */
function dataPresent(storeDir: string): string[] {
  const out: string[] = [];
  const size = (p: string): number => {
    try {
      return statSync(p).size;
    } catch {
      return -1;
    }
  };
  if (size(join(storeDir, DOCS_FILE)) > 0) out.push(DOCS_FILE);
  if (size(join(storeDir, INDEX_DIR, MANIFEST_FILE)) >= 0) {
    try {
      const count = (JSON.parse(readFileSync(join(storeDir, INDEX_DIR, MANIFEST_FILE), "utf8")) as { count?: unknown }).count;
      if (count !== 0) out.push(`${INDEX_DIR}/${MANIFEST_FILE} (${String(count)} rows)`);
    } catch {
      out.push(`${INDEX_DIR}/${MANIFEST_FILE}`);
    }
  }
  if (size(join(storeDir, INDEX_DIR, "vectors.f32")) > 0) out.push(`${INDEX_DIR}/vectors.f32`);
  if (size(join(storeDir, STORE_PILOTS_FILE)) >= 0) out.push(STORE_PILOTS_FILE);
  if (size(join(storeDir, REGISTRY_FILE)) >= 0) {
    try {
      const r = JSON.parse(readFileSync(join(storeDir, REGISTRY_FILE), "utf8")) as { known?: unknown[] };
      if (!Array.isArray(r.known) || r.known.length > 0) out.push(REGISTRY_FILE);
    } catch {
      out.push(REGISTRY_FILE);
    }
  }
  return out;
}

/** Temp names written by util/atomic.ts and experts/peft.ts: ".<name>.<pid>.<hex>.tmp". */
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Removes temp files and folders left by writers that died mid-write. A temp file of a process
 * still alive is left alone: it may be mid-rename.
 */
export function cleanStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && isAlive(pid)) continue;
    if (pid === process.pid) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
