import {
  closeSync,
  constants as fsc,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  ftruncateSync,
  writeSync,
} from "node:fs";
import { createHash, type Hash } from "node:crypto";
import { endianness } from "node:os";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import type { JsonValue } from "../util/json.js";
import { topK, type Hit } from "./topk.js";

/*
 * On-disk layout of a vector index directory:
 *
 *   vectors.f32    rows of `dims` little-endian float32, row i = ids[i]; append-only
 *   ids.json       JSON array of doc ids in row order (rewritten atomically on each commit)
 *   manifest.json  IndexManifest (rewritten atomically on each commit): the commit point
 *
 * Crash safety. The committed state is exactly: the manifest, the first manifest.count entries
 * of ids.json and the first manifest.count rows of vectors.f32. A commit (save) does, in order:
 *   1. truncate vectors.f32 to the committed length (dropping any tail a crashed save left),
 *      write the new rows after it, fsync;
 *   2. atomically replace ids.json with committed ids + new ids (temp, fsync, rename);
 *   3. atomically replace manifest.json with the new count and checksum.
 * A crash before 3 leaves the old manifest in force. Everything it describes is still intact,
 * because steps 1-2 only ever add bytes past the committed rows and ids: the old rows are never
 * rewritten, and the new ids.json starts with the old ids. The surplus rows/ids are an
 * uncommitted append, ignored on open and cut off by the next save. A crash after 3 is a
 * completed commit, and the fsync in 1 and the fsync-before-rename in 2 ensure that the data the
 * new manifest points to reached the disk before the manifest did. Single writer per directory:
 * save() re-reads the manifest first and refuses (CONFLICT) if someone else committed meanwhile.
 *
 * Checksum. manifest.checksum = sha256(first count rows of vectors.f32 || UTF-8 of
 * JSON.stringify(first count ids)). Open checks only what is O(1) or O(ids): manifest fields,
 * file lengths against count, ids well-formed and unique. Hashing the vectors costs a full read
 * (~40 MB for a 25k x 384 corpus) on every open, which searches do not need, so it runs on
 * demand: `verify()`, `openIndex(dir, { verify: true })`, and implicitly before the first append
 * after open (the running hash that makes appends cheap must start from bytes known to match,
 * so an append can never bless rows that were already corrupt).
 */

export const VECTORS_FILE = "vectors.f32";
export const IDS_FILE = "ids.json";
export const MANIFEST_FILE = "manifest.json";
export const INDEX_FORMAT = "routerretriever-vector-index";
export const INDEX_FORMAT_VERSION = 1;


export interface IndexManifest {
  format: typeof INDEX_FORMAT;
  version: number;
  modelId: string;
  dims: number;
  pooling: string;
  normalized: boolean;
  count: number;
  /** "sha256:<hex>" over the committed vector bytes then the committed ids (see above). */
  checksum: string;
  createdAt: string;
  updatedAt: string;
  corpusFingerprint?: string;
  /** Free-form data committed atomically with the rows (the corpus cache keeps progress here). */
  meta?: { [key: string]: JsonValue };
}

export interface IndexSpec {
  modelId: string;
  dims: number;
  pooling: string;
  normalized: boolean;
  corpusFingerprint?: string;
}

export interface CreateIndexOptions {
  /** Replace an index already in `dir` instead of refusing. */
  overwrite?: boolean;
}

export interface OpenIndexOptions {
  /** Refuse (MODEL_MISMATCH) unless the stored index matches each field given. */
  modelId?: string;
  dims?: number;
  pooling?: string;
  normalized?: boolean;
  /** Also hash the vectors and ids against the manifest checksum. */
  verify?: boolean;
  /** Called while verifying, per hashed chunk (a large store takes seconds). */
  onVerifyProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface SearchOptions {
  /** Per query, a doc id that must not be returned (BEIR ignore_identical_ids); null for none. */
  excludeIds?: ReadonlyArray<string | null | undefined>;
  /** General exclusion by doc id; consulted only for candidates that would make the top k. */
  exclude?: (queryIdx: number, docId: string) => boolean;
}

/** A top-k hit (vectors/topk.ts) with the id of the document its row holds. */
export interface DocumentHit extends Hit {
  readonly id: string;
}

const EMPTY_CHECKSUM = "sha256:" + createHash("sha256").update("[]").digest("hex");
const LITTLE_ENDIAN = endianness() === "LE";
/** Tolerance for "normalized" rows: float32 normalisation lands within ~1e-6 of 1. */
const NORM_TOLERANCE = 1e-3;

/** Creates an empty, committed index in `dir` and returns it open. */
export function createIndex(dir: string, spec: IndexSpec, options: CreateIndexOptions = {}): VectorIndex {
  if (typeof spec.modelId !== "string" || spec.modelId === "") {
    throw new RouterRetrieverError("BAD_INPUT", "createIndex: modelId must be a non-empty string");
  }
  if (!Number.isInteger(spec.dims) || spec.dims <= 0) {
    throw new RouterRetrieverError("BAD_INPUT", `createIndex: dims must be a positive integer, got ${spec.dims}`);
  }
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!options.overwrite && !existsSync(manifestPath)) refuseOrphanedFiles(dir);
  if (existsSync(manifestPath)) {
    if (!options.overwrite) {
      throw new RouterRetrieverError("CONFLICT", `${manifestPath}: a vector index already exists here`);
    }
    // Removing the manifest first un-commits the old index in one atomic step, so a crash
    // part-way through the overwrite leaves "no index", never a mix of old and new files.
    rmSync(manifestPath);
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, VECTORS_FILE), new Uint8Array(0));
  writeFileAtomic(join(dir, IDS_FILE), "[]\n");
  const now = new Date().toISOString();
  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    version: INDEX_FORMAT_VERSION,
    modelId: spec.modelId,
    dims: spec.dims,
    pooling: spec.pooling,
    normalized: spec.normalized,
    count: 0,
    checksum: EMPTY_CHECKSUM,
    createdAt: now,
    updatedAt: now,
    ...(spec.corpusFingerprint !== undefined ? { corpusFingerprint: spec.corpusFingerprint } : {}),
  };
  writeJsonAtomic(manifestPath, manifest);
  return new VectorIndex(dir, manifest, [], new Float32Array(0));
}

/** Opens the committed state of the index in `dir` (ignoring any uncommitted append). */
export function openIndex(dir: string, options: OpenIndexOptions = {}): VectorIndex {
  const manifest = readManifest(dir);
  checkExpectation(dir, manifest, options);
  const ids = readCommittedIds(dir, manifest);
  const vectors = readCommittedVectors(dir, manifest);
  const index = new VectorIndex(dir, manifest, ids, vectors);
  if (options.verify) index.verifyLoaded(options.onVerifyProgress);
  return index;
}

/**
 * Without its manifest (the commit point) an index's rows are uncommitted by definition, but
 * rows and ids that are there mean a manifest existed: creating a fresh index over them would
 * truncate data this process never wrote. Refuse and say how to recover.
 */
export function refuseOrphanedFiles(dir: string): void {
  const found: string[] = [];
  for (const f of [VECTORS_FILE, IDS_FILE]) {
    const p = join(dir, f);
    try {
      const st = statSync(p);
      if (st.size > (f === IDS_FILE ? 3 : 0)) found.push(`${f} (${st.size} bytes)`);
    } catch {
      // absent: nothing to protect
    }
  }
  if (found.length > 0) {
    throw new RouterRetrieverError(
      "PARSE_ERROR",
      `${join(dir, MANIFEST_FILE)} is missing but ${found.join(" and ")} ${found.length > 1 ? "are" : "is"} there: refusing to create a new index over them. ` +
        `Restore ${MANIFEST_FILE} from a backup, or move ${dir} aside to start an empty index.`,
    );
  }
}

export class VectorIndex {
  readonly dir: string;
  private manifestState: IndexManifest;
  private idList: string[];
  private rows: Float32Array;
  private rowCount: number;
  private readonly idToRow = new Map<string, number>();
  private pendingMeta: { [key: string]: JsonValue } | undefined;
  /** sha256 state over the committed vector bytes; built lazily (see the header comment). */
  private vectorHash: Hash | undefined;

  /** @internal use createIndex / openIndex */
  constructor(dir: string, manifest: IndexManifest, ids: string[], vectors: Float32Array) {
    this.dir = dir;
    this.manifestState = manifest;
    this.idList = ids;
    this.rows = vectors;
    this.rowCount = ids.length;
    ids.forEach((id, i) => this.idToRow.set(id, i));
    if (manifest.count === 0) this.vectorHash = createHash("sha256");
  }

  get dims(): number {
    return this.manifestState.dims;
  }
  /** Rows held, committed or not. */
  get size(): number {
    return this.rowCount;
  }
  /** Rows covered by the last commit. */
  get committedSize(): number {
    return this.manifestState.count;
  }
  get manifest(): Readonly<IndexManifest> {
    return this.manifestState;
  }
  get ids(): readonly string[] {
    return this.idList;
  }
  /** All rows, row-major (a view: do not modify). */
  get vectors(): Float32Array {
    return this.rows.subarray(0, this.rowCount * this.dims);
  }

  has(id: string): boolean {
    return this.idToRow.has(id);
  }

  /** A copy of the row stored for `id`, or undefined. */
  get(id: string): Float32Array | undefined {
    const row = this.idToRow.get(id);
    if (row === undefined) return undefined;
    return this.rows.slice(row * this.dims, (row + 1) * this.dims);
  }

  /** Appends rows in memory; they are searchable at once and reach disk on save(). */
  add(ids: readonly string[], vectors: Float32Array): void {
    const d = this.dims;
    if (vectors.length !== ids.length * d) {
      throw new RouterRetrieverError(
        "SHAPE_MISMATCH",
        `add: ${ids.length} ids need ${ids.length * d} floats (dims ${d}), got ${vectors.length}`,
      );
    }
    const seen = new Set<string>();
    for (const id of ids) {
      if (typeof id !== "string") throw new RouterRetrieverError("BAD_INPUT", `add: doc id ${String(id)} is not a string`);
      if (this.idToRow.has(id) || seen.has(id)) {
        throw new RouterRetrieverError("CONFLICT", `add: duplicate doc id "${id}" in index ${this.dir}`);
      }
      seen.add(id);
    }
    for (let r = 0; r < ids.length; r++) {
      let norm = 0;
      for (let t = r * d; t < (r + 1) * d; t++) {
        const v = vectors[t];
        if (!Number.isFinite(v)) {
          throw new RouterRetrieverError("BAD_INPUT", `add: vector for doc "${ids[r]}" has a non-finite value`);
        }
        norm += v * v;
      }
      // Catches a caller that forgot to normalise an index declared normalised, which would
      // otherwise silently turn cosine into dot-product ranking. Zero rows are let through.
      if (this.manifestState.normalized && norm !== 0 && Math.abs(Math.sqrt(norm) - 1) > NORM_TOLERANCE) {
        throw new RouterRetrieverError(
          "BAD_INPUT",
          `add: vector for doc "${ids[r]}" has norm ${Math.sqrt(norm).toFixed(6)} but the index is declared normalized`,
        );
      }
    }
    this.ensureCapacity(this.rowCount + ids.length);
    this.rows.set(vectors, this.rowCount * d);
    for (const id of ids) {
      this.idToRow.set(id, this.rowCount++);
      this.idList.push(id);
    }
  }

  /** Sets manifest.meta for the next save() (committed atomically with any pending rows). */
  setMeta(meta: { [key: string]: JsonValue }): void {
    this.pendingMeta = meta;
  }

  /** Exact top-k over all held rows; one hit list per query, best first. */
  search(queryVectors: Float32Array, k: number, options: SearchOptions = {}): DocumentHit[][] {
    const d = this.dims;
    if (queryVectors.length % d !== 0) {
      throw new RouterRetrieverError(
        "SHAPE_MISMATCH",
        `search: query buffer length ${queryVectors.length} is not a multiple of the index dims ${d}`,
      );
    }
    const nq = queryVectors.length / d;
    let excludeIndex: Int32Array | undefined;
    if (options.excludeIds !== undefined) {
      if (options.excludeIds.length !== nq) {
        throw new RouterRetrieverError("SHAPE_MISMATCH", `search: excludeIds has ${options.excludeIds.length} entries for ${nq} queries`);
      }
      excludeIndex = new Int32Array(nq).fill(-1);
      options.excludeIds.forEach((id, q) => {
        if (id != null) excludeIndex![q] = this.idToRow.get(id) ?? -1;
      });
    }
    const byId = options.exclude;
    const hits: Hit[][] = topK(queryVectors, this.vectors, d, k, {
      excludeIndex,
      exclude: byId ? (q, j) => byId(q, this.idList[j]) : undefined,
    });
    return hits.map((list) => list.map((h) => ({ id: this.idList[h.index], index: h.index, score: h.score })));
  }

  /**
   * Commits pending rows and meta (see the header comment for the write order). Cost is the
   * new rows plus a rewrite of ids.json and the manifest, not the existing vectors.
   */
  save(): void {
    const m = this.manifestState;
    const committed = m.count;
    const added = this.rowCount - committed;
    if (added === 0 && this.pendingMeta === undefined) return;
    this.checkNoConcurrentCommit();

    const d = m.dims;
    const base = this.committedVectorHash();
    const next = base.copy();
    const newBytes = toLittleEndianBytes(this.rows.subarray(committed * d, this.rowCount * d));
    next.update(newBytes);
    const ids = this.idList.slice(0, this.rowCount);
    const idsJson = JSON.stringify(ids);
    const checksum = "sha256:" + next.copy().update(idsJson, "utf8").digest("hex");

    if (added > 0) {
      appendRows(join(this.dir, VECTORS_FILE), committed * d * 4, newBytes);
      writeFileAtomic(join(this.dir, IDS_FILE), idsJson + "\n");
    }
    const manifest: IndexManifest = {
      ...m,
      count: this.rowCount,
      checksum,
      updatedAt: new Date().toISOString(),
      ...(this.pendingMeta !== undefined ? { meta: this.pendingMeta } : {}),
    };
    writeJsonAtomic(join(this.dir, MANIFEST_FILE), manifest);
    this.manifestState = manifest;
    this.vectorHash = next;
    this.pendingMeta = undefined;
  }

  /**
   * Hashes the committed rows and ids as they are on disk now and compares with the manifest.
   * Throws PARSE_ERROR naming the directory's files when they disagree.
   */
  verify(): void {
    const m = readManifest(this.dir);
    const ids = readCommittedIds(this.dir, m);
    const h = createHash("sha256");
    hashFilePrefix(join(this.dir, VECTORS_FILE), m.count * m.dims * 4, h);
    const actual = "sha256:" + h.update(JSON.stringify(ids), "utf8").digest("hex");
    if (actual !== m.checksum) throw checksumError(this.dir, m.checksum, actual);
  }

  /** @internal verify the rows loaded at open, without re-reading the file. */
  verifyLoaded(onProgress?: (doneBytes: number, totalBytes: number) => void): void {
    this.committedVectorHash(onProgress);
  }

  private committedVectorHash(onProgress?: (doneBytes: number, totalBytes: number) => void): Hash {
    if (this.vectorHash !== undefined) return this.vectorHash;
    const m = this.manifestState;
    const bytes = toLittleEndianBytes(this.rows.subarray(0, m.count * m.dims));
    const h = createHash("sha256");
    const CHUNK = 16 << 20;
    for (let off = 0; off < bytes.byteLength; off += CHUNK) {
      h.update(bytes.subarray(off, Math.min(off + CHUNK, bytes.byteLength)));
      onProgress?.(Math.min(off + CHUNK, bytes.byteLength), bytes.byteLength);
    }
    const actual = "sha256:" + h.copy().update(JSON.stringify(this.idList.slice(0, m.count)), "utf8").digest("hex");
    if (actual !== m.checksum) throw checksumError(this.dir, m.checksum, actual);
    this.vectorHash = h;
    return h;
  }

  private checkNoConcurrentCommit(): void {
    const onDisk = readManifest(this.dir);
    const mine = this.manifestState;
    if (onDisk.count !== mine.count || onDisk.checksum !== mine.checksum || onDisk.modelId !== mine.modelId) {
      throw new RouterRetrieverError(
        "CONFLICT",
        `${join(this.dir, MANIFEST_FILE)}: index changed on disk since it was opened ` +
          `(count ${mine.count} -> ${onDisk.count}); another writer? Reopen and retry.`,
      );
    }
  }

  private ensureCapacity(rows: number): void {
    const need = rows * this.dims;
    if (need <= this.rows.length) return;
    const grown = new Float32Array(Math.max(need, this.rows.length * 2, 1024 * this.dims));
    grown.set(this.rows.subarray(0, this.rowCount * this.dims));
    this.rows = grown;
  }
}

function readManifest(dir: string): IndexManifest {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new RouterRetrieverError("NOT_FOUND", `${path}: no vector index here (manifest missing)`, { cause: err });
    }
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index manifest (invalid JSON)`, { cause: err });
  }
  const bad = (what: string): RouterRetrieverError =>
    new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index manifest: ${what}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad("not an object");
  const m = raw as Record<string, unknown>;
  if (m.format !== INDEX_FORMAT) throw bad(`format is ${JSON.stringify(m.format)}, expected "${INDEX_FORMAT}"`);
  if (m.version !== INDEX_FORMAT_VERSION) {
    throw new RouterRetrieverError(
      "UNSUPPORTED",
      `${path}: vector index format version ${String(m.version)} is not supported (this build reads ${INDEX_FORMAT_VERSION})`,
    );
  }
  if (typeof m.modelId !== "string") throw bad("modelId missing");
  if (!Number.isInteger(m.dims) || (m.dims as number) <= 0) throw bad(`dims ${String(m.dims)} is not a positive integer`);
  if (typeof m.pooling !== "string") throw bad("pooling missing");
  if (typeof m.normalized !== "boolean") throw bad("normalized missing");
  if (!Number.isInteger(m.count) || (m.count as number) < 0) throw bad(`count ${String(m.count)} is not a count`);
  if (typeof m.checksum !== "string" || !m.checksum.startsWith("sha256:")) throw bad("checksum missing");
  if (typeof m.createdAt !== "string") throw bad("createdAt missing");
  if (m.corpusFingerprint !== undefined && typeof m.corpusFingerprint !== "string") throw bad("corpusFingerprint is not a string");
  if (m.meta !== undefined && (typeof m.meta !== "object" || m.meta === null || Array.isArray(m.meta))) throw bad("meta is not an object");
  return { ...m, updatedAt: typeof m.updatedAt === "string" ? m.updatedAt : m.createdAt } as IndexManifest;
}

function checkExpectation(dir: string, m: IndexManifest, want: OpenIndexOptions): void {
  const diffs: string[] = [];
  if (want.modelId !== undefined && want.modelId !== m.modelId) diffs.push("model");
  if (want.dims !== undefined && want.dims !== m.dims) diffs.push("dims");
  if (want.pooling !== undefined && want.pooling !== m.pooling) diffs.push("pooling");
  if (want.normalized !== undefined && want.normalized !== m.normalized) diffs.push("normalization");
  if (diffs.length === 0) return;
  const stored = `model "${m.modelId}", dims ${m.dims}, pooling ${m.pooling}, ${m.normalized ? "normalized" : "unnormalized"}`;
  const expected = [
    want.modelId !== undefined ? `model "${want.modelId}"` : undefined,
    want.dims !== undefined ? `dims ${want.dims}` : undefined,
    want.pooling !== undefined ? `pooling ${want.pooling}` : undefined,
    want.normalized !== undefined ? (want.normalized ? "normalized" : "unnormalized") : undefined,
  ].filter((x) => x !== undefined);
  throw new RouterRetrieverError(
    "MODEL_MISMATCH",
    `vector index ${dir} differs in ${diffs.join(" and ")}: stored ${stored}; expected ${expected.join(", ")}. ` +
      `Re-encode the corpus with the expected model or open the matching index.`,
  );
}

function readCommittedIds(dir: string, m: IndexManifest): string[] {
  const path = join(dir, IDS_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    throw new RouterRetrieverError(
      "PARSE_ERROR",
      `${path}: corrupt vector index: ids file ${missing ? "missing" : "is not valid JSON"}`,
      { cause: err },
    );
  }
  if (!Array.isArray(raw)) throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: ids file is not an array`);
  if (raw.length < m.count) {
    throw new RouterRetrieverError(
      "PARSE_ERROR",
      `${path}: corrupt vector index: ${raw.length} ids but the manifest commits ${m.count}`,
    );
  }
  // Entries past count belong to an append whose manifest commit never happened.
  const ids = raw.slice(0, m.count);
  const seen = new Set<string>();
  for (const id of ids) {
    if (typeof id !== "string") throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: id ${JSON.stringify(id)} is not a string`);
    if (seen.has(id)) throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: duplicate id "${id}"`);
    seen.add(id);
  }
  return ids as string[];
}

function readCommittedVectors(dir: string, m: IndexManifest): Float32Array {
  const path = join(dir, VECTORS_FILE);
  const want = m.count * m.dims * 4;
  const out = new Float32Array(m.count * m.dims);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && m.count === 0) return out;
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: vectors file unreadable`, { cause: err });
  }
  try {
    const have = fstatSync(fd).size;
    if (have < want) {
      throw new RouterRetrieverError(
        "PARSE_ERROR",
        `${path}: corrupt vector index: vectors file is truncated (${have} bytes, manifest commits ` +
          `${m.count} rows x ${m.dims} dims = ${want} bytes)`,
      );
    }
    // Bytes past `want` are an uncommitted append: not read, and cut off by the next save.
    readFully(path, fd, new Uint8Array(out.buffer), 0, want);
  } finally {
    closeSync(fd);
  }
  if (!LITTLE_ENDIAN) swapBytes32(new Uint8Array(out.buffer));
  return out;
}

function appendRows(path: string, committedBytes: number, bytes: Uint8Array): void {
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT, 0o644);
  try {
    if (fstatSync(fd).size < committedBytes) {
      throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: vectors file shrank below its committed length`);
    }
    ftruncateSync(fd, committedBytes);
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off, committedBytes + off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function hashFilePrefix(path: string, length: number, h: Hash): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && length === 0) return;
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: vectors file unreadable`, { cause: err });
  }
  try {
    const size = fstatSync(fd).size;
    if (size < length) {
      throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: vectors file is truncated (${size} of ${length} bytes)`);
    }
    const buf = new Uint8Array(1 << 20);
    for (let pos = 0; pos < length; ) {
      const n = Math.min(buf.length, length - pos);
      readFully(path, fd, buf, pos, n);
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

function readFully(path: string, fd: number, into: Uint8Array, position: number, length: number): void {
  let off = 0;
  while (off < length) {
    const n = readSync(fd, into, off, length - off, position + off);
    if (n === 0) throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt vector index: unexpected end of file`);
    off += n;
  }
}

function checksumError(dir: string, expected: string, actual: string): RouterRetrieverError {
  return new RouterRetrieverError(
    "PARSE_ERROR",
    `${join(dir, VECTORS_FILE)} / ${IDS_FILE}: corrupt vector index: checksum mismatch ` +
      `(manifest ${expected}, files hash to ${actual})`,
  );
}

function toLittleEndianBytes(v: Float32Array): Uint8Array {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const copy = bytes.slice();
  swapBytes32(copy);
  return copy;
}

function swapBytes32(b: Uint8Array): void {
  for (let i = 0; i + 3 < b.length; i += 4) {
    const b0 = b[i];
    const b1 = b[i + 1];
    b[i] = b[i + 3];
    b[i + 1] = b[i + 2];
    b[i + 2] = b1;
    b[i + 3] = b0;
  }
}
