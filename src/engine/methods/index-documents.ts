/**
 * Bringing the store up to date with a corpus (`routerretriever index`, `serve --corpus`):
 * documents not stored yet are added; documents stored with another title or text are encoded
 * again and replace their stored row (resuming by id alone kept an edited document's old
 * vector forever, issue 12); documents stored exactly as given cost nothing. New documents
 * commit chunk by chunk, replacements in batches of the same size, so an interrupted run loses
 * at most one chunk and the next run picks up from what is stored.
 */
import { documentText } from "../../data/beir.js";
import { RouterRetrieverError } from "../../errors.js";
import type { EngineState } from "../state.js";
import type { AddDocumentsOptions, DocumentInput, IndexDocumentsResult } from "../types.js";
import { checkDocuments, commitDocuments, DEFAULT_CHUNK } from "./add-documents.js";

export async function indexDocuments(s: EngineState, input: readonly DocumentInput[], opts: AddDocumentsOptions = {}): Promise<IndexDocumentsResult> {
  if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
  const docs = checkDocuments(input);
  const chunk = opts.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunk) || chunk <= 0) throw new RouterRetrieverError("BAD_INPUT", `chunkSize must be a positive integer, got ${chunk}`);
  const stored = await s.store.existing(docs.map((d) => d.id));
  const same = await s.store.unchanged(docs.filter((d) => stored.has(d.id)));
  const fresh = docs.filter((d) => !stored.has(d.id));
  const edited = docs.filter((d) => stored.has(d.id) && !same.has(d.id));
  let done = same.size;
  opts.onProgress?.({ done, total: docs.length });
  const encode = async (part: readonly { title: string; text: string }[]): Promise<Float32Array> => {
    const vecs = await s.base.encode(part.map(documentText), { onProgress: (p) => opts.onProgress?.({ done: done + p.done, total: docs.length }) });
    done += part.length;
    return vecs;
  };
  await commitDocuments(s, fresh, chunk, encode);
  for (let i = 0; i < edited.length; i += chunk) {
    const part = edited.slice(i, i + chunk);
    const vecs = await encode(part);
    await s.writes.run(() => s.store.replace(part, vecs));
  }
  return { added: fresh.length, replaced: edited.length, unchanged: same.size, total: await s.store.count() };
}
