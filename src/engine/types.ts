/** The engine's public vocabulary: what a user of `RouterRetriever` passes in and gets back. */
import type { Doc } from "../data/beir.js";
import type { Precision } from "../model/bert-graph.js";
import type { ModelSpec } from "../model/spec.js";
import type { RoutingRule } from "../routing/types.js";
import type { StoreIntegrity, StoredHit } from "../store/types.js";

export interface OpenProgress {
  /** What is happening now: loading the model, compiling sessions, loading experts, ... */
  readonly stage: string;
  readonly done: number;
  readonly total: number;
}

export interface OpenOptions {
  /**
   * Where documents, vectors, the expert registry and the store's pilot library live: a folder
   * (the embedded flat store, created when absent) or a `postgres://` URL (PostgreSQL with
   * pgvector; credentials from the URL or the PG* environment variables).
   */
  readonly store: string;
  /** PostgreSQL only: exact scan instead of the HNSW index (see docs/scale-out.md). */
  readonly exactSearch?: boolean;
  /**
   * PostgreSQL only: pgvector's hnsw.ef_search, 1..1000 (default 100). Larger: better recall,
   * slower (docs/scale-out.md has measurements). Not with exactSearch.
   */
  readonly efSearch?: number;
  /** A HuggingFace-layout model folder, "default" / undefined for the bundled MiniLM, or a spec. */
  readonly model?: string | ModelSpec;
  /**
   * The folder holding expert folders (PEFT layout), one per expert, named by expert id. Without
   * one, only experts the store itself holds (PostgreSQL) can be active.
   */
  readonly expertsDir?: string;
  /**
   * A pilot library file (routing/pilots.ts format). When the store holds its own copy (made
   * the first time adding an expert extended the library), that copy is used instead, unless
   * this file changed since the copy was made.
   */
  readonly pilotsPath?: string;
  /** Routing rule (default: the paper's mean of dot products). */
  readonly rule?: RoutingRule;
  /** ONNX Runtime intra-op threads per session (default 1). */
  readonly threads?: number;
  /**
   * ONNX Runtime sessions per encoder (default 1), each on its own worker thread: that many
   * encoder runs at once, e.g. one per core for a service's concurrent searches.
   */
  readonly sessions?: number;
  /** Encoder arithmetic for documents and queries (default "fp32"; see BertGraphOptions.precision). */
  readonly precision?: Precision;
  readonly onProgress?: (p: OpenProgress) => void;
  /** Non-fatal problems found at open (an expert folder that no longer loads, ...). Default: console.warn. */
  readonly onWarning?: (message: string) => void;
}

export interface DocumentInput {
  readonly id: string;
  readonly title?: string;
  readonly text: string;
}

/** A document as stored: the data layer's document (a missing title is ""). */
export type StoredDocument = Doc;

/** A store's hit (store/types.ts) as the engine returns it: a snippet in place of the whole text. */
export interface SearchHit extends Pick<StoredHit, "id" | "score" | "title"> {
  /** A short window of the text, placed at the first query word it contains. */
  readonly snippet: string;
}

export interface SearchResult {
  /** The expert the router chose ("base" = no LoRA); with a soft rule, the one with the largest weight. */
  readonly expert: string;
  /** The mix the query was embedded with: candidate -> weight, summing to 1 ({ [expert]: 1 } when routing is hard). */
  readonly weights: Readonly<Record<string, number>>;
  /** What the router did, in words: the experts' shares, or why the query stayed with the base. */
  readonly explanation: string;
  /** Every candidate's routing score (higher is better); empty when no pilot library is loaded. */
  readonly scores: Readonly<Record<string, number>>;
  /** Why the router could not choose among experts, when it could not (e.g. no pilot library). */
  readonly routingNote?: string;
  readonly hits: readonly SearchHit[];
}

export interface AddDocumentsOptions {
  readonly onProgress?: (p: { done: number; total: number }) => void;
  /** Documents per committed chunk (default 256): an interrupted bulk add keeps whole chunks. */
  readonly chunkSize?: number;
}

export interface AddDocumentsResult {
  readonly added: number;
  readonly total: number;
}

export interface IndexDocumentsResult {
  /** Documents that were not stored. */
  readonly added: number;
  /** Documents stored with another title or text: re-encoded, their old vectors replaced. */
  readonly replaced: number;
  /** Documents stored exactly as given: nothing encoded. */
  readonly unchanged: number;
  readonly total: number;
}

export interface ExpertInfo {
  readonly name: string;
  /** Loaded and allowed as a routing candidate. */
  readonly active: boolean;
  /** Active and the pilot library has pilots for it, so the router can actually pick it. */
  readonly routable: boolean;
  readonly pilots: number;
  readonly domain?: string;
  /** Why a folder in expertsDir is not active when that is not the user's choice. */
  readonly error?: string;
}

export interface AddExpertOptions {
  /**
   * For an expert added with routing evidence: also score every other active expert on the new
   * domain's queries (its documents must be in the store), so they can win some of them.
   */
  readonly scoreExisting?: boolean;
}

export interface AddExpertResult {
  readonly expert: ExpertInfo;
  /** Pilots added to the library for it (0 when the library already had some or none could be made). */
  readonly pilotsAdded: number;
  /** A human-readable explanation when the expert is loaded but the router cannot pick it yet. */
  readonly note?: string;
}

export interface Health {
  readonly status: "ok";
  readonly modelId: string;
  readonly dims: number;
  readonly documents: number;
  readonly experts: { readonly active: number; readonly routable: number; readonly available: number };
  readonly pilots: number;
  readonly rule: RoutingRule;
  /** The store's location (folder, or postgres URL without credentials). */
  readonly store: string;
  /** Checksums verified when the store was opened (a store that fails them does not open). */
  readonly integrity: StoreIntegrity;
  readonly warnings: readonly string[];
  readonly uptimeSeconds: number;
}
