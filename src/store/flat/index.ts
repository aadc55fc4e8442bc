/**
 * The embedded store: one folder on one machine, exact top-k over vectors held in memory.
 *
 *   <dir>/store.json    format marker, store id and the model the vectors were made with
 *   <dir>/index/        VectorIndex of base-model document embeddings (corpus.ts)
 *   <dir>/docs.jsonl    the documents, committed with the index (corpus.ts)
 *   <dir>/experts.json  which expert folders are active (registry.ts)
 *   <dir>/pilots.json   the store's own pilot library copy, once adding an expert extended it
 *
 * This is the one store format: `routerretriever index`, `search`, `serve` and the library all
 * read and write it. Open-time checks (parts that disagree, checksums, stale temp files) live in
 * store-open.ts. A folder written by `routerretriever index` before the one store format
 * (manifest.json, ids.json and vectors.f32 at the top, docs.jsonl with "_id" keys) is migrated
 * on open, keeping every vector; see migrate.ts.
 */
import { resolve } from "node:path";
import { resolveExpertDir } from "../../experts/expert-dir.js";
import type { Doc as StoredDocument } from "../../data/beir.js";
import type { ExpertsChange, ExpertsState, Store, StoreIntegrity, StoreSpec, StoredHit } from "../types.js";
import type { CorpusStore } from "./corpus.js";
import { isOldIndexFolder, migrateOldIndexFolder } from "./migrate.js";
import type { ExpertRegistry } from "./registry.js";
import { openStoreParts } from "./store-open.js";

export { STORE_FILE } from "./store-open.js";

export interface OpenFlatOptions {
  /** Told when an old-format folder is migrated or stale temp files are removed. */
  readonly onWarning?: (message: string) => void;
  /** Checksum verification progress at open, in bytes. */
  readonly onVerifyProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** Opens (creating when absent) the flat store in `dir`. */
export async function openFlatStore(dir: string, spec: StoreSpec, opts: OpenFlatOptions = {}): Promise<FlatStore> {
  const root = resolve(dir);
  if (isOldIndexFolder(root)) {
    const n = await migrateOldIndexFolder(root, spec);
    opts.onWarning?.(`${root}: migrated an index folder of the old format (${n} documents) to the store format`);
  }
  const parts = openStoreParts(root, { spec, onVerifyProgress: opts.onVerifyProgress });
  if (parts.tempFilesRemoved.length > 0) {
    opts.onWarning?.(`removed ${parts.tempFilesRemoved.length} temp file(s) left by an interrupted write: ${parts.tempFilesRemoved.join(", ")}`);
  }
  return new FlatStore(root, parts.storeId, parts.corpus, parts.registry);
}

export class FlatStore implements Store {
  readonly kind = "flat" as const;
  readonly location: string;
  readonly localDir: string;

  constructor(
    dir: string,
    readonly storeId: string | undefined,
    private readonly corpus: CorpusStore,
    private readonly registry: ExpertRegistry,
  ) {
    this.location = dir;
    this.localDir = dir;
  }

  get integrity(): StoreIntegrity {
    return this.corpus.integrity;
  }

  async count(): Promise<number> {
    return this.corpus.size;
  }

  async existing(ids: readonly string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.corpus.has(id)));
  }

  async get(id: string): Promise<StoredDocument | undefined> {
    return this.corpus.get(id);
  }

  async vectorsOf(ids: readonly string[]): Promise<Float32Array> {
    return this.corpus.vectorsOf(ids);
  }

  async search(queries: Float32Array, k: number): Promise<StoredHit[][]> {
    return this.corpus.search(queries, k).map((hits) =>
      hits.map((h) => {
        const doc = this.corpus.get(h.id);
        return { id: h.id, score: h.score, title: doc?.title ?? "", text: doc?.text ?? "" };
      }),
    );
  }

  async append(docs: readonly StoredDocument[], vectors: Float32Array): Promise<void> {
    this.corpus.append(docs, vectors);
  }

  async replace(docs: readonly StoredDocument[], vectors: Float32Array): Promise<void> {
    this.corpus.replace(docs, vectors);
  }

  async unchanged(docs: readonly StoredDocument[]): Promise<Set<string>> {
    return new Set(
      docs.filter((d) => {
        const stored = this.corpus.get(d.id);
        return stored !== undefined && stored.title === d.title && stored.text === d.text;
      }).map((d) => d.id),
    );
  }

  async readExperts(): Promise<ExpertsState> {
    return { active: this.registry.active, known: this.registry.known };
  }

  async updateExperts(change: ExpertsChange): Promise<ExpertsState> {
    this.registry.update(change);
    return this.readExperts();
  }

  async expertDir(name: string, expertsDir: string | undefined): Promise<string> {
    return resolveExpertDir(expertsDir, name);
  }

  async publishExpert(): Promise<void> {}

  async storedExperts(): Promise<string[]> {
    return [];
  }

  async pullPilots(): Promise<void> {}

  async pushPilots(): Promise<void> {}

  watch(): () => void {
    return () => {};
  }

  async close(): Promise<void> {}
}
