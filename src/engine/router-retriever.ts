/**
 * The library facade: one open store with its model, experts and router. Each verb lives in
 * its own file under methods/ (Orama style); this class only holds the state and forwards.
 *
 *   const rr = await RouterRetriever.open({ store: "my-store", expertsDir, pilotsPath });
 *   await rr.addDocuments([{ id: "d1", title: "", text: "..." }]);
 *   const { expert, scores, hits } = await rr.search("query", 10);
 *   await rr.close();
 *
 * Safe for concurrent use within one process: searches run freely, writes are serialised.
 * One process per store folder (the index refuses a commit when another writer got there first);
 * any number of processes, on any machines, per PostgreSQL store.
 */
import { addDocuments } from "./methods/add-documents.js";
import { addExpert } from "./methods/add-expert.js";
import { health } from "./methods/health.js";
import { indexDocuments } from "./methods/index-documents.js";
import { listExperts } from "./methods/list-experts.js";
import { openState, type InternalOpenOptions } from "./methods/open.js";
import { removeExpert } from "./methods/remove-expert.js";
import { searchBatch } from "./methods/search.js";
import type { EngineState } from "./state.js";
import { scoreExpertsOnDomain } from "./methods/score-domain.js";
import type { AddDocumentsOptions, AddDocumentsResult, AddExpertOptions, AddExpertResult, DocumentInput, ExpertInfo, Health, IndexDocumentsResult, SearchResult, StoredDocument } from "./types.js";

/**
 * Each open RouterRetriever's state, for the workflows built on the engine's verbs
 * (src/workflows/: adding a domain trains an expert, which the engine itself may not import).
 * Not part of the library API (engine/index.ts does not export it).
 */
const states = new WeakMap<RouterRetriever, EngineState>();

export function engineState(rr: RouterRetriever): EngineState {
  return states.get(rr)!;
}

export class RouterRetriever {
  private constructor(private readonly s: EngineState) {
    states.set(this, s);
  }

  static async open(opts: InternalOpenOptions): Promise<RouterRetriever> {
    return new RouterRetriever(await openState(opts));
  }

  /** One query: route, embed with base + chosen expert, exact top-k. */
  async search(query: string, k = 10): Promise<SearchResult> {
    return (await searchBatch(this.s, [query], k))[0]!;
  }

  /** Many queries in one base batch and one expert batch (what the service's micro-batcher calls). */
  searchBatch(queries: readonly string[], k = 10): Promise<SearchResult[]> {
    return searchBatch(this.s, queries, k);
  }

  addDocuments(docs: readonly DocumentInput[], opts?: AddDocumentsOptions): Promise<AddDocumentsResult> {
    return addDocuments(this.s, docs, opts);
  }

  /**
   * The store brought up to date with a corpus: new documents added, edited ones (another title
   * or text under a stored id) re-encoded and replaced, unchanged ones left as they are.
   */
  indexDocuments(docs: readonly DocumentInput[], opts?: AddDocumentsOptions): Promise<IndexDocumentsResult> {
    return indexDocuments(this.s, docs, opts);
  }

  addExpert(name: string, opts?: AddExpertOptions): Promise<AddExpertResult> {
    return addExpert(this.s, name, opts);
  }

  /** Scores the other active experts on the domain `name` brought with its routing evidence. */
  scoreExpertsOnDomain(name: string): Promise<{ scored: number; pilots: number }> {
    return scoreExpertsOnDomain(this.s, name);
  }

  removeExpert(name: string): Promise<{ removed: string; active: string[] }> {
    return removeExpert(this.s, name);
  }

  listExperts(): ExpertInfo[] {
    return listExperts(this.s);
  }

  health(): Promise<Health> {
    return health(this.s);
  }

  getDocument(id: string): Promise<StoredDocument | undefined> {
    return this.s.store.get(id);
  }

  async hasDocument(id: string): Promise<boolean> {
    return (await this.s.store.existing([id])).has(id);
  }

  /** Which of `ids` are already stored (one round trip, for skipping known documents in bulk). */
  existingDocuments(ids: readonly string[]): Promise<Set<string>> {
    return this.s.store.existing(ids);
  }

  countDocuments(): Promise<number> {
    return this.s.store.count();
  }

  /** Where the store is: a folder, or a postgres URL without credentials. */
  get store(): string {
    return this.s.store.location;
  }

  /** Encoder runs that can go at once (OpenOptions.sessions): how many searches to run side by side. */
  get parallelism(): number {
    return this.s.base.parallelism;
  }

  get modelId(): string {
    return this.s.model.spec.id;
  }

  /** Waits for pending writes, then releases both ONNX sessions. */
  async close(): Promise<void> {
    if (this.s.closed) return;
    this.s.stopWatching();
    await this.s.writes.run(() => {
      this.s.closed = true;
    });
    await Promise.all([this.s.base.close(), this.s.experts.close(), this.s.store.close()]);
  }
}
