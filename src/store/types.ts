/**
 * The storage seam: everything the engine keeps beyond one process's lifetime goes through a
 * Store. Two backends implement it:
 *   - flat/: today's embedded files in one folder (exact top-k in memory), for one machine;
 *   - postgres/: documents + vectors in a pgvector table (HNSW or exact), expert adapters, the
 *     expert registry and the pilot library in tables, so several processes on several machines
 *     serve one corpus and see each other's expert changes.
 * The engine never touches files or SQL itself; it talks to this interface only.
 */
import type { Doc as StoredDocument } from "../data/beir.js";
import type { DocumentHit } from "../vectors/store.js";

/** What the stored vectors were made with; a store refuses to be opened with another model. */
export interface StoreSpec {
  readonly modelId: string;
  readonly dims: number;
  readonly pooling: string;
  readonly normalized: boolean;
}

/** What open verified, for health (flat: checksums of vectors and documents). */
export interface StoreIntegrity {
  readonly verifiedAt: string;
  readonly vectors: string;
  readonly documents: string;
}

/**
 * One search result row from a store: a document hit (its id and dot-product score; the row
 * index stays inside the vector index) with the document's title and text.
 */
export interface StoredHit extends Pick<DocumentHit, "id" | "score"> {
  readonly title: string;
  readonly text: string;
}

/** Which expert names are in use (`active`) and which were ever seen (`known`, a superset). */
export interface ExpertsState {
  readonly active: readonly string[];
  readonly known: readonly string[];
}

export interface ExpertsChange {
  readonly activate?: readonly string[];
  readonly deactivate?: readonly string[];
}

export interface Store {
  readonly kind: "flat" | "postgres";
  /** Where the store is, for messages and health: a folder, or a postgres URL without credentials. */
  readonly location: string;
  /**
   * A folder this process may keep files in (pilot-library copy, downloaded adapters). For the
   * flat store it is the store folder itself; for PostgreSQL a per-database cache folder.
   */
  readonly localDir: string;
  /** The store's random id (the flat store's store.json; rr_meta on PostgreSQL): sealed files carry it. */
  readonly storeId: string | undefined;
  readonly integrity: StoreIntegrity;

  /** Committed documents. */
  count(): Promise<number>;
  /** The subset of `ids` already stored. */
  existing(ids: readonly string[]): Promise<Set<string>>;
  get(id: string): Promise<StoredDocument | undefined>;
  /** The stored base embeddings of `ids`, row i = ids[i]; NOT_FOUND when one is not stored. */
  vectorsOf(ids: readonly string[]): Promise<Float32Array>;
  /** Top-k documents by dot product, one list per query row (row-major `queries`, dims wide). */
  search(queries: Float32Array, k: number): Promise<StoredHit[][]>;
  /**
   * Commits documents with their base embeddings (row i = docs[i]) atomically: all or none.
   * Throws CONFLICT when an id is already stored.
   */
  append(docs: readonly StoredDocument[], vectors: Float32Array): Promise<void>;
  /**
   * Replaces stored documents (every id must be stored, else NOT_FOUND) and their base
   * embeddings atomically: all or none. For an edited document, whose old vector is wrong.
   */
  replace(docs: readonly StoredDocument[], vectors: Float32Array): Promise<void>;
  /** The ids of those `docs` stored with exactly this title and text (their vectors are current). */
  unchanged(docs: readonly StoredDocument[]): Promise<Set<string>>;

  readExperts(): Promise<ExpertsState>;
  /** Applies a change atomically and returns the new state. */
  updateExperts(change: ExpertsChange): Promise<ExpertsState>;
  /**
   * The folder to load expert `name` from. The flat store reads `expertsDir/<name>` directly;
   * PostgreSQL returns a local copy of the adapter stored in the database, or, for an expert it
   * does not hold yet, `expertsDir/<name>` (publishExpert then uploads it).
   */
  expertDir(name: string, expertsDir: string | undefined): Promise<string>;
  /** Makes a loaded expert folder available to every process on the store (no-op for flat). */
  publishExpert(name: string, dir: string): Promise<void>;
  /** Expert names whose adapters the store itself holds (empty for flat: they stay in expertsDir). */
  storedExperts(): Promise<string[]>;

  /**
   * Brings the store's own pilot-library copy into localDir/pilots.json (no-op for flat, where
   * that file is the copy), so PilotState can read it like any library file.
   */
  pullPilots(): Promise<void>;
  /** Saves localDir/pilots.json as the store's own copy for every process (no-op for flat). */
  pushPilots(): Promise<void>;

  /**
   * Calls `onChange` (at most one call in flight) after another process changed the experts or
   * the pilot library. Returns a function that stops watching. The flat store never calls it:
   * one process per folder.
   */
  watch(onChange: () => Promise<void>): () => void;

  close(): Promise<void>;
}
