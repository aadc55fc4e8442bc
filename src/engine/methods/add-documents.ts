/**
 * Adding documents: validate, embed with the frozen base (documents never see an expert), then
 * commit chunk by chunk under the write lock (the store commits each chunk atomically). Returns only after every chunk is on disk, so a document whose add
 * returned survives a kill -9 from then on.
 */
import { RouterRetrieverError } from "../../errors.js";
import { documentText } from "../../data/beir.js";
import type { EngineState } from "../state.js";
import type { AddDocumentsOptions, AddDocumentsResult, DocumentInput, StoredDocument } from "../types.js";

export const MAX_ID_LENGTH = 512;
export const DEFAULT_CHUNK = 256;

export function checkDocuments(docs: unknown): StoredDocument[] {
  if (!Array.isArray(docs)) throw new RouterRetrieverError("BAD_INPUT", "documents must be an array");
  const seen = new Set<string>();
  return docs.map((raw, i) => {
    const at = `documents[${i}]`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new RouterRetrieverError("BAD_INPUT", `${at} must be an object`);
    const d = raw as Partial<Record<keyof DocumentInput, unknown>>;
    if (typeof d.id !== "string" || d.id === "" || d.id.length > MAX_ID_LENGTH) {
      throw new RouterRetrieverError("BAD_INPUT", `${at}.id must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
    }
    if (d.title !== undefined && typeof d.title !== "string") throw new RouterRetrieverError("BAD_INPUT", `${at}.title must be a string`);
    if (typeof d.text !== "string") throw new RouterRetrieverError("BAD_INPUT", `${at}.text must be a string`);
    const doc = { id: d.id, title: d.title ?? "", text: d.text };
    if (documentText(doc) === "") throw new RouterRetrieverError("BAD_INPUT", `${at} has neither title nor text`);
    if (seen.has(doc.id)) throw new RouterRetrieverError("CONFLICT", `${at}.id "${doc.id}" appears twice in this request`);
    seen.add(doc.id);
    return doc;
  });
}

export async function addDocuments(s: EngineState, input: readonly DocumentInput[], opts: AddDocumentsOptions = {}): Promise<AddDocumentsResult> {
  if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
  const docs = checkDocuments(input);
  // Fail before spending encoder time; the store checks again at commit for a concurrent add.
  const already = await s.store.existing(docs.map((d) => d.id));
  for (const d of docs) if (already.has(d.id)) throw new RouterRetrieverError("CONFLICT", `document id "${d.id}" is already in the store`);
  const chunk = opts.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunk) || chunk <= 0) throw new RouterRetrieverError("BAD_INPUT", `chunkSize must be a positive integer, got ${chunk}`);
  let done = 0;
  opts.onProgress?.({ done, total: docs.length });
  await commitDocuments(s, docs, chunk, async (part) => {
    const vecs = await s.base.encode(part.map(documentText), { onProgress: (p) => opts.onProgress?.({ done: done + p.done, total: docs.length }) });
    done += part.length;
    return vecs;
  });
  return { added: docs.length, total: await s.store.count() };
}

/**
 * Commits validated documents chunk by chunk, each chunk's base vectors from `vectorsFor`
 * (the encoder, or vectors already computed, as add-domain.ts has them from the cache).
 */
export async function commitDocuments(s: EngineState, docs: readonly StoredDocument[], chunk: number, vectorsFor: (part: readonly StoredDocument[]) => Promise<Float32Array>): Promise<void> {
  for (let i = 0; i < docs.length; i += chunk) {
    const part = docs.slice(i, i + chunk);
    const vecs = await vectorsFor(part);
    await s.writes.run(() => s.store.append(part, vecs));
  }
}
