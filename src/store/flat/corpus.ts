/**
 * The searchable corpus: a VectorIndex (base-model document embeddings) plus the documents
 * themselves, committed together.
 *
 *   <dir>/index/      VectorIndex (vectors/store.ts): vectors, ids, manifest
 *   <dir>/docs.jsonl  append-only, one {"id","title","text"} object per line
 *
 * Crash safety rides on the index's own commit point. The manifest's meta records how many
 * bytes of docs.jsonl are committed, so one atomic manifest rename commits both the new rows
 * and the new document lines. An append writes the lines after the committed length (cutting
 * off any tail a killed writer left), fsyncs, then commits the index with the new length.
 * A kill before the manifest rename leaves the old manifest, which describes an intact prefix
 * of both files; a kill after it is a completed add. Open reads only the committed prefix and
 * checks that its ids are exactly the index's ids, in order.
 *
 * Integrity on open (issue 12): the vectors and ids are hashed against the manifest checksum,
 * the committed documents against meta.docsSha256, and meta.storeId must be this store's, so
 * a zeroed vector file, an edited docs.jsonl or a file copied in from another store is refused
 * before anything is served. A missing manifest with documents present is refused too: the
 * manifest is the commit point, and starting an empty index would overwrite docs.jsonl.
 *
 * Replacing documents (an edited text needs a new vector, issue 12) cannot go through the
 * append-only files, so it rewrites the corpus: a complete new index/ and docs.jsonl are built in
 * <dir>/.rewrite/, a READY file written there is the commit point, and then both are moved
 * into place. Open finishes a READY rewrite (every move is redone idempotently) and drops one
 * without READY, so a crash leaves either the old corpus or the new one, never a mix.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, constants as fsc, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import { createIndex, MANIFEST_FILE, openIndex, type IndexSpec, type DocumentHit, type VectorIndex } from "../../vectors/store.js";
import { fsyncDir, writeFileAtomic } from "../../util/atomic.js";
import { foreignStoreError } from "./store-identity.js";
import type { Doc as StoredDocument } from "../../data/beir.js";

export const INDEX_DIR = "index";
export const DOCS_FILE = "docs.jsonl";
/** Manifest meta keys; bumping the format would need a migration, so they are fixed names. */
const META_DOCS_BYTES = "docsBytes";
const META_DOCS_SHA256 = "docsSha256";
const META_STORE_ID = "storeId";
/** Where a replacement corpus is built, and the file in it that commits the rewrite. */
const REWRITE_DIR = ".rewrite";
const REWRITE_READY = "READY";

export interface CorpusOpenOptions {
  /** The store's id (store.json): the manifest must carry it, or none (a store from before ids). */
  readonly storeId?: string;
  /** Progress of the checksum verification at open, in bytes hashed. */
  readonly onVerifyProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** What open verified, for health. */
export interface CorpusIntegrity {
  readonly verifiedAt: string;
  readonly vectors: string;
  readonly documents: string;
}

export class CorpusStore {
  private docs = new Map<string, StoredDocument>();

  private constructor(
    readonly dir: string,
    private readonly spec: IndexSpec,
    private index: VectorIndex,
    private docsBytes: number,
    /** sha256 state over the committed bytes of docs.jsonl. */
    private docsHash: Hash,
    docs: readonly StoredDocument[],
    private readonly storeId: string | undefined,
    private verified: CorpusIntegrity,
  ) {
    for (const d of docs) this.docs.set(d.id, d);
  }

  get integrity(): CorpusIntegrity {
    return this.verified;
  }

  /** Opens the corpus in `dir`, creating an empty one when there is none; verifies it (see the header). */
  static open(dir: string, spec: IndexSpec, opts: CorpusOpenOptions = {}): CorpusStore {
    const indexDir = join(dir, INDEX_DIR);
    const docsPath = join(dir, DOCS_FILE);
    finishRewrite(dir);
    let index: VectorIndex;
    if (existsSync(join(indexDir, MANIFEST_FILE))) {
      index = openIndex(indexDir, { modelId: spec.modelId, dims: spec.dims, pooling: spec.pooling, normalized: spec.normalized, verify: true, onVerifyProgress: opts.onVerifyProgress });
    } else {
      const docsSize = existsSync(docsPath) ? statSync(docsPath).size : 0;
      if (docsSize > 0) {
        throw new RouterRetrieverError(
          "PARSE_ERROR",
          `store ${dir}: ${INDEX_DIR}/${MANIFEST_FILE} is missing but ${DOCS_FILE} holds ${docsSize} bytes of documents; refusing to open it as an empty store (the next add would overwrite them). ` +
            `Restore ${INDEX_DIR}/ from a backup, or move ${DOCS_FILE} aside and re-add its documents (e.g. serve --corpus).`,
        );
      }
      index = createIndex(indexDir, spec);
    }
    const meta = index.manifest.meta ?? {};
    const owner = meta[META_STORE_ID];
    if (opts.storeId !== undefined && owner !== undefined && owner !== opts.storeId) {
      throw foreignStoreError(join(indexDir, MANIFEST_FILE), String(owner), opts.storeId, `${INDEX_DIR}/ and ${DOCS_FILE}`);
    }
    const bytes = committedDocsBytes(index);
    // Created up front with a directory fsync, so a committed manifest never names a file whose
    // directory entry a power cut could still lose.
    if (bytes === 0 && !existsSync(docsPath)) writeFileAtomic(docsPath, "");
    const { docs, hash } = readCommittedDocs(docsPath, bytes);
    const docsSum = "sha256:" + hash.copy().digest("hex");
    const want = meta[META_DOCS_SHA256];
    if (want !== undefined && want !== docsSum) {
      throw new RouterRetrieverError(
        "PARSE_ERROR",
        `${docsPath}: corrupt store: the ${bytes} committed bytes hash to ${docsSum}, the manifest records ${String(want)}. Restore ${DOCS_FILE} from a backup.`,
      );
    }
    const ids = index.ids;
    if (docs.length !== index.committedSize || docs.some((d, i) => d.id !== ids[i])) {
      throw new RouterRetrieverError(
        "PARSE_ERROR",
        `${docsPath}: corrupt store: ${docs.length} committed documents do not match the index's ${index.committedSize} ids`,
      );
    }
    const integrity: CorpusIntegrity = { verifiedAt: new Date().toISOString(), vectors: index.manifest.checksum, documents: want === undefined && bytes > 0 ? "unverified (store written before document checksums)" : docsSum };
    return new CorpusStore(dir, spec, index, bytes, hash, docs, opts.storeId, integrity);
  }

  get size(): number {
    return this.index.committedSize;
  }

  get dims(): number {
    return this.index.dims;
  }

  get modelId(): string {
    return this.index.manifest.modelId;
  }

  has(id: string): boolean {
    return this.docs.has(id);
  }

  get(id: string): StoredDocument | undefined {
    return this.docs.get(id);
  }

  /** The stored base embeddings of `ids`, row-major in `ids` order. */
  vectorsOf(ids: readonly string[]): Float32Array {
    const d = this.index.dims;
    const out = new Float32Array(ids.length * d);
    ids.forEach((id, i) => {
      const v = this.index.get(id);
      if (!v) throw new RouterRetrieverError("NOT_FOUND", `document "${id}" is not in the store`);
      out.set(v, i * d);
    });
    return out;
  }

  /** Exact top-k over every committed document, one list per query row. */
  search(queryVectors: Float32Array, k: number): DocumentHit[][] {
    return this.index.search(queryVectors, k);
  }

  /**
   * Appends and commits documents with their base embeddings (row i = docs[i]). Returns once
   * the commit is on disk. On failure nothing is committed and the in-memory state is reloaded
   * from disk, so a failed append leaves the store exactly as it was.
   */
  append(docs: readonly StoredDocument[], vectors: Float32Array): void {
    if (docs.length === 0) return;
    for (const d of docs) if (this.docs.has(d.id)) throw new RouterRetrieverError("CONFLICT", `document id "${d.id}" is already in the store`);
    const lines = Buffer.from(docs.map((d) => JSON.stringify({ id: d.id, title: d.title, text: d.text }) + "\n").join(""), "utf8");
    const next = this.docsBytes + lines.byteLength;
    const nextHash = this.docsHash.copy().update(lines);
    try {
      writeAt(join(this.dir, DOCS_FILE), this.docsBytes, lines);
      this.index.add(docs.map((d) => d.id), vectors);
      this.index.setMeta({
        ...(this.index.manifest.meta ?? {}),
        [META_DOCS_BYTES]: next,
        [META_DOCS_SHA256]: "sha256:" + nextHash.copy().digest("hex"),
        ...(this.storeId !== undefined ? { [META_STORE_ID]: this.storeId } : {}),
      });
      this.index.save();
    } catch (err) {
      // The index keeps uncommitted rows in memory after a failed save; reopening drops them.
      this.index = openIndex(join(this.dir, INDEX_DIR));
      throw err;
    }
    this.docsBytes = next;
    this.docsHash = nextHash;
    for (const d of docs) this.docs.set(d.id, d);
  }

  /**
   * Replaces stored documents and their base embeddings (row i = docs[i]; every id must be
   * stored) in one commit, keeping every other document and the row order. Costs a rewrite of
   * the whole corpus (see the header), so callers batch their replacements.
   */
  replace(docs: readonly StoredDocument[], vectors: Float32Array): void {
    if (docs.length === 0) return;
    const d = this.index.dims;
    if (vectors.length !== docs.length * d) {
      throw new RouterRetrieverError("SHAPE_MISMATCH", `replace: ${docs.length} documents need ${docs.length * d} floats (dims ${d}), got ${vectors.length}`);
    }
    const at = new Map<string, number>();
    docs.forEach((doc, i) => {
      if (!this.docs.has(doc.id)) throw new RouterRetrieverError("NOT_FOUND", `document "${doc.id}" is not in the store; nothing was replaced`);
      if (at.has(doc.id)) throw new RouterRetrieverError("CONFLICT", `document id "${doc.id}" appears twice in one replacement`);
      at.set(doc.id, i);
    });
    const ids = this.index.ids.slice(0, this.index.committedSize);
    const rows = this.index.vectors.slice(0, ids.length * d);
    const all = ids.map((id, row) => {
      const i = at.get(id);
      if (i === undefined) return this.docs.get(id)!;
      rows.set(vectors.subarray(i * d, (i + 1) * d), row * d);
      return docs[i]!;
    });
    const work = join(this.dir, REWRITE_DIR);
    rmSync(work, { recursive: true, force: true });
    try {
      const fresh = CorpusStore.open(work, this.spec, { storeId: this.storeId });
      const chunk = 4096;
      for (let i = 0; i < all.length; i += chunk) fresh.append(all.slice(i, i + chunk), rows.subarray(i * d, Math.min(all.length, i + chunk) * d));
      writeFileAtomic(join(work, REWRITE_READY), "");
    } catch (err) {
      // Not committed: the old corpus stands; free the space now (a full disk is the likely cause).
      rmSync(work, { recursive: true, force: true });
      throw err;
    }
    finishRewrite(this.dir);
    const now = CorpusStore.open(this.dir, this.spec, { storeId: this.storeId });
    this.index = now.index;
    this.docsBytes = now.docsBytes;
    this.docsHash = now.docsHash;
    this.docs = now.docs;
    this.verified = now.verified;
  }
}

/**
 * Completes a committed rewrite (READY present): moves the new index/ and docs.jsonl into
 * place, each move redone safely after a crash part-way; drops an uncommitted one. Returns
 * whether a rewrite was completed.
 */
function finishRewrite(dir: string): boolean {
  const work = join(dir, REWRITE_DIR);
  if (!existsSync(work)) return false;
  if (!existsSync(join(work, REWRITE_READY))) {
    rmSync(work, { recursive: true, force: true });
    return false;
  }
  if (existsSync(join(work, INDEX_DIR))) {
    rmSync(join(dir, INDEX_DIR), { recursive: true, force: true });
    renameSync(join(work, INDEX_DIR), join(dir, INDEX_DIR));
  }
  if (existsSync(join(work, DOCS_FILE))) renameSync(join(work, DOCS_FILE), join(dir, DOCS_FILE));
  fsyncDir(dir);
  rmSync(work, { recursive: true, force: true });
  return true;
}

function committedDocsBytes(index: VectorIndex): number {
  const v = index.manifest.meta?.[META_DOCS_BYTES];
  if (v === undefined) {
    if (index.committedSize === 0) return 0;
    throw new RouterRetrieverError("PARSE_ERROR", `${index.dir}: index has ${index.committedSize} rows but no committed documents length; it was not written by this store`);
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new RouterRetrieverError("PARSE_ERROR", `${index.dir}: manifest meta.${META_DOCS_BYTES} is not a byte count`);
  return v;
}

function readCommittedDocs(path: string, bytes: number): { docs: StoredDocument[]; hash: Hash } {
  const hash = createHash("sha256");
  if (bytes === 0) return { docs: [], hash };
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt store: documents file missing (${bytes} bytes committed)`, { cause: err });
  }
  const buf = Buffer.alloc(bytes);
  try {
    if (fstatSync(fd).size < bytes) throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt store: documents file shorter than its committed ${bytes} bytes`);
    for (let off = 0; off < bytes; ) {
      const n = readSync(fd, buf, off, bytes - off, off);
      if (n === 0) throw new RouterRetrieverError("PARSE_ERROR", `${path}: unexpected end of file`);
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  hash.update(buf);
  const text = buf.toString("utf8");
  if (!text.endsWith("\n")) throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt store: committed documents do not end at a line end`);
  const docs = text
    .slice(0, -1)
    .split("\n")
    .map((line, i) => {
      try {
        const o = JSON.parse(line) as StoredDocument;
        if (typeof o.id !== "string" || typeof o.title !== "string" || typeof o.text !== "string") throw new Error("expected id, title and text strings");
        return { id: o.id, title: o.title, text: o.text };
      } catch (err) {
        throw new RouterRetrieverError("PARSE_ERROR", `${path}:${i + 1}: corrupt store: ${err instanceof SyntaxError ? "not valid JSON" : (err as Error).message}`, { cause: err });
      }
    });
  return { docs, hash };
}

/** Writes `data` at `offset`, dropping whatever an interrupted writer left past it, then fsyncs. */
function writeAt(path: string, offset: number, data: Uint8Array): void {
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT, 0o644);
  try {
    if (fstatSync(fd).size < offset) throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt store: documents file shrank below its committed length`);
    ftruncateSync(fd, offset);
    for (let off = 0; off < data.byteLength; ) off += writeSync(fd, data, off, data.byteLength - off, offset + off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
