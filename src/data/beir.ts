import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { RouterRetrieverError, parseError } from "../errors.js";
import { readLines, resolveDataFile } from "./lines.js";

/**
 * A document as BEIR stores it (and as the engine stores it: engine/types.ts StoredDocument);
 * the text to embed is `documentText(doc)`.
 */
export interface Doc {
  readonly id: string;
  readonly title: string;
  readonly text: string;
}

export interface Query {
  id: string;
  text: string;
}

/** queryId -> docId -> relevance grade (0 = judged not relevant). */
export type Qrels = Map<string, Map<string, number>>;

export interface BeirDataset {
  /** The folder's base name, e.g. "scifact". */
  name: string;
  dir: string;
  /** In file order. */
  corpus: Doc[];
  /** Only the queries judged in the loaded split, in queries-file order (as BEIR's loader does). */
  queries: Query[];
  qrels: Qrels;
}

/** A (generated query, source document) pair from generated-queries/*.jsonl. */
export interface GeneratedPair {
  query: string;
  docId: string;
}

/**
 * BEIR embeds `(title + " " + text).strip()` (beir/retrieval/models/sentence_bert.py), so an
 * empty title leaves just the text. Python's strip() and JS trim() disagree on a few code points
 * (\x1c-\x1f and \x85 are whitespace to Python, \ufeff only to JS), hence the explicit class.
 */
export function documentText(doc: Pick<Doc, "title" | "text">): string {
  return pythonStrip(`${doc.title} ${doc.text}`);
}

const PY_WS = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, "g");

function pythonStrip(s: string): string {
  return s.replace(PY_STRIP, "");
}

/** corpus.jsonl (or corpus.jsonl.gz) of a BEIR folder, read by `readDocumentsJsonl`. */
export async function loadCorpus(dir: string): Promise<Doc[]> {
  return readDocumentsJsonl(resolveDataFile(dir, "corpus.jsonl"));
}

/**
 * The one reader of document files: BEIR corpora and the documents users bring to `serve
 * --corpus` alike. One `{"_id" (or "id"), "title", "text"}` object per line, gzipped when the
 * name ends in .gz; a missing or null title is an empty one; blank lines are skipped; a repeated
 * id is an error. Errors name the file and line.
 */
export async function readDocumentsJsonl(path: string): Promise<Doc[]> {
  const docs: Doc[] = [];
  const seen = new Map<string, number>();
  for await (const { text, lineNo } of readLines(path)) {
    const obj = parseJsonLine(path, lineNo, text);
    if (obj === undefined) continue;
    const id = requireId(path, lineNo, obj);
    checkUnique(seen, id, path, lineNo, "document");
    const title = optionalString(path, lineNo, obj, "title");
    const body = requireString(path, lineNo, obj, "text");
    docs.push({ id, title, text: body });
  }
  return docs;
}

/** queries.jsonl (or .gz): one `{"_id", "text", ...}` object per line; other fields are ignored. */
export async function loadQueries(dir: string): Promise<Query[]> {
  const path = resolveDataFile(dir, "queries.jsonl");
  const queries: Query[] = [];
  const seen = new Map<string, number>();
  for await (const { text, lineNo } of readLines(path)) {
    const obj = parseJsonLine(path, lineNo, text);
    if (obj === undefined) continue;
    const id = requireId(path, lineNo, obj);
    checkUnique(seen, id, path, lineNo, "query");
    queries.push({ id, text: requireString(path, lineNo, obj, "text") });
  }
  return queries;
}

const INTEGER = /^-?\d+$/;

/**
 * qrels/<split>.tsv (or .tsv.gz): a header line, then `query-id<TAB>corpus-id<TAB>score` rows.
 * The header is required, because BEIR skips line 1 unconditionally and a headerless file
 * would silently lose its first judgment. A repeated (query, doc) pair is an error: BEIR would
 * keep the last grade without a word.
 */
export async function loadQrels(dir: string, split: string): Promise<Qrels> {
  const path = qrelsPath(dir, split);
  const qrels: Qrels = new Map();
  const firstLine = new Map<string, number>();
  let sawHeader = false;
  for await (const { text, lineNo } of readLines(path)) {
    if (text.trim() === "") continue;
    const cols = text.split("\t");
    if (cols.length !== 3) {
      throw parseError(path, lineNo, `expected 3 tab-separated columns, found ${cols.length}`);
    }
    if (!sawHeader) {
      if (INTEGER.test(cols[2].trim())) {
        throw parseError(path, lineNo, "missing header line (query-id, corpus-id, score)");
      }
      sawHeader = true;
      continue;
    }
    const [qid, docId, score] = cols;
    if (qid === "") throw parseError(path, lineNo, "empty query-id");
    if (docId === "") throw parseError(path, lineNo, "empty corpus-id");
    // Python's int(), which BEIR applies, tolerates surrounding whitespace; so do we.
    const scoreText = score.trim();
    if (!INTEGER.test(scoreText)) throw parseError(path, lineNo, `score ${JSON.stringify(score)} is not an integer`);
    const grade = Number(scoreText);
    if (!Number.isSafeInteger(grade)) throw parseError(path, lineNo, `score ${score} is out of range`);
    let docs = qrels.get(qid);
    if (docs === undefined) {
      docs = new Map();
      qrels.set(qid, docs);
    }
    const key = `${qid}\t${docId}`;
    const prev = firstLine.get(key);
    if (prev !== undefined) {
      throw parseError(path, lineNo, `duplicate judgment for query ${qid}, doc ${docId} (first at line ${prev})`);
    }
    firstLine.set(key, lineNo);
    docs.set(docId, grade);
  }
  return qrels;
}

/** The split's qrels file: qrels/<split>.tsv, or qrels/<split>.tsv.gz when only that exists. */
export function qrelsPath(dir: string, split: string): string {
  return resolveDataFile(join(dir, "qrels"), `${split}.tsv`);
}

/** Split names that have a qrels file (plain or gzipped), sorted; [] when there is no qrels folder. */
export function listQrelsSplits(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, "qrels"));
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return [];
    throw err;
  }
  const splits = new Set<string>();
  for (const name of names) {
    const m = /^(.+)\.tsv(?:\.gz)?$/.exec(name);
    if (m) splits.add(m[1]);
  }
  return [...splits].sort();
}

/**
 * Corpus, the split's judged queries and its qrels. Like BEIR's GenericDataLoader, queries are
 * restricted to those that appear in the split's qrels; unlike it, a qrels query id that is not
 * in queries.jsonl is an error instead of a KeyError later. Qrels doc ids absent from the corpus
 * are kept (ArguAna has 5, as in the official release): they only lower recall.
 */
export async function loadBeirDataset(dir: string, split = "test"): Promise<BeirDataset> {
  const [corpus, allQueries, qrels] = await Promise.all([loadCorpus(dir), loadQueries(dir), loadQrels(dir, split)]);
  const byId = new Set(allQueries.map((q) => q.id));
  for (const qid of qrels.keys()) {
    if (!byId.has(qid)) {
      throw new RouterRetrieverError(
        "BAD_INPUT",
        `${qrelsPath(dir, split)}: query id ${JSON.stringify(qid)} is judged but not in ${resolveDataFile(dir, "queries.jsonl")}`,
      );
    }
  }
  const queries = allQueries.filter((q) => qrels.has(q.id));
  return { name: basename(dir), dir, corpus, queries, qrels };
}

/**
 * GenQ-style training data: each line is a document (`_id`, `title`, `text`) plus one generated
 * `query`. A document appears on as many lines as it has generated queries, so ids repeat.
 */
export async function loadGeneratedQueries(
  dir: string,
  file = join("generated-queries", "train.jsonl"),
): Promise<GeneratedPair[]> {
  const path = resolveDataFile(dir, file);
  const pairs: GeneratedPair[] = [];
  for await (const { text, lineNo } of readLines(path)) {
    const obj = parseJsonLine(path, lineNo, text);
    if (obj === undefined) continue;
    const docId = requireId(path, lineNo, obj);
    pairs.push({ query: requireString(path, lineNo, obj, "query"), docId });
  }
  return pairs;
}

type JsonObject = Record<string, unknown>;

/** undefined for a blank line (tolerated, e.g. a stray trailing newline). */
function parseJsonLine(path: string, lineNo: number, text: string): JsonObject | undefined {
  if (text.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw parseError(path, lineNo, `invalid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw parseError(path, lineNo, "expected a JSON object");
  }
  return value as JsonObject;
}

/** BEIR's "_id", or "id" (what people write by hand); both present must agree. */
function requireId(path: string, lineNo: number, obj: JsonObject): string {
  const id = obj["_id"] ?? obj["id"];
  if (id === undefined) throw parseError(path, lineNo, "missing _id (or id)");
  if (typeof id !== "string" || id === "") throw parseError(path, lineNo, "_id must be a non-empty string");
  if (obj["_id"] !== undefined && obj["id"] !== undefined && obj["_id"] !== obj["id"]) {
    throw parseError(path, lineNo, `_id ${JSON.stringify(obj["_id"])} and id ${JSON.stringify(obj["id"])} disagree`);
  }
  return id;
}

function requireString(path: string, lineNo: number, obj: JsonObject, field: string): string {
  const v = obj[field];
  if (v === undefined) throw parseError(path, lineNo, `missing ${field}`);
  if (typeof v !== "string") throw parseError(path, lineNo, `${field} must be a string`);
  return v;
}

/** A missing or null title is an empty one (BEIR's cosqa and many corpora have none). */
function optionalString(path: string, lineNo: number, obj: JsonObject, field: string): string {
  const v = obj[field];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw parseError(path, lineNo, `${field} must be a string`);
  return v;
}

function checkUnique(seen: Map<string, number>, id: string, path: string, lineNo: number, what: string): void {
  const prev = seen.get(id);
  if (prev !== undefined) throw parseError(path, lineNo, `duplicate ${what} id ${JSON.stringify(id)} (first at line ${prev})`);
  seen.set(id, lineNo);
}
