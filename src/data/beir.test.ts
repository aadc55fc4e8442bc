import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import {
  documentText,
  listQrelsSplits,
  loadBeirDataset,
  loadCorpus,
  loadGeneratedQueries,
  loadQrels,
  loadQueries,
  readDocumentsJsonl,
} from "./beir.js";
import { readLines } from "./lines.js";

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A throwaway dataset folder: relative path -> content (gzipped when the name ends in .gz). */
function dataset(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "rr-beir-"));
  roots.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, rel.endsWith(".gz") ? gzipSync(Buffer.from(content, "utf8")) : content);
  }
  return dir;
}

const jsonl = (...rows: object[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const CORPUS = jsonl(
  { _id: "d1", title: "Title one", text: "Body one." },
  { _id: "d2", title: "", text: "Body two." },
  { _id: "d3", text: "No title field." },
);
const QUERIES = jsonl({ _id: "q1", text: "first?" }, { _id: "q2", text: "second?", metadata: {} }, { _id: "q3", text: "unjudged" });
const QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\n";

async function rejection(p: Promise<unknown>): Promise<RouterRetrieverError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RouterRetrieverError);
    return err as RouterRetrieverError;
  }
  throw new Error("expected a rejection");
}

describe("loading a BEIR folder", () => {
  it("loads corpus in file order, queries, qrels, and restricts queries to the judged ones", async () => {
    const dir = dataset({ "corpus.jsonl": CORPUS, "queries.jsonl": QUERIES, "qrels/test.tsv": QRELS });
    const ds = await loadBeirDataset(dir);
    expect(ds.corpus.map((d) => d.id)).toEqual(["d1", "d2", "d3"]);
    expect(ds.corpus[2]).toEqual({ id: "d3", title: "", text: "No title field." });
    expect(ds.queries).toEqual([
      { id: "q1", text: "first?" },
      { id: "q2", text: "second?" },
    ]);
    expect(ds.qrels.get("q1")).toEqual(new Map([["d1", 1], ["d2", 0]]));
    expect(ds.qrels.get("q2")).toEqual(new Map([["d3", 2]]));
    expect(ds.dir).toBe(dir);
    expect((await loadQueries(dir)).length).toBe(3);
  });

  it("document text is BEIR's (title + ' ' + text).strip()", () => {
    expect(documentText({ title: "Title one", text: "Body one." })).toBe("Title one Body one.");
    expect(documentText({ title: "", text: "Body two." })).toBe("Body two.");
    expect(documentText({ title: "Only title", text: "" })).toBe("Only title");
    expect(documentText({ title: " a", text: "b \n" })).toBe("a b");
    // Python's strip() removes \x1c-\x1f and \x85 (JS trim() does not) and keeps \ufeff.
    expect(documentText({ title: "\x1ct", text: "x\x85" })).toBe("t x");
    expect(documentText({ title: "\ufeff", text: "x" })).toBe("\ufeff x");
  });

  it("reads CRLF qrels and JSONL", async () => {
    const crlf = (s: string) => s.replace(/\n/g, "\r\n");
    const dir = dataset({ "corpus.jsonl": crlf(CORPUS), "queries.jsonl": crlf(QUERIES), "qrels/test.tsv": crlf(QRELS) });
    const ds = await loadBeirDataset(dir);
    expect(ds.qrels.get("q1")).toEqual(new Map([["d1", 1], ["d2", 0]]));
    expect(ds.corpus[0].text).toBe("Body one.");
  });

  it("falls back to .gz files transparently", async () => {
    const dir = dataset({
      "corpus.jsonl.gz": CORPUS,
      "queries.jsonl.gz": QUERIES,
      "qrels/test.tsv.gz": QRELS,
      "qrels/dev.tsv": QRELS,
    });
    const ds = await loadBeirDataset(dir);
    expect(ds.corpus.length).toBe(3);
    expect(ds.queries.length).toBe(2);
    expect(ds.qrels.get("q2")!.get("d3")).toBe(2);
    expect(listQrelsSplits(dir)).toEqual(["dev", "test"]);
  });

  it("prefers the plain file when both exist", async () => {
    const dir = dataset({ "corpus.jsonl": CORPUS, "corpus.jsonl.gz": jsonl({ _id: "other", text: "x" }) });
    expect((await loadCorpus(dir)).length).toBe(3);
  });

  it("lists no splits without a qrels folder", () => {
    expect(listQrelsSplits(dataset({ "corpus.jsonl": CORPUS }))).toEqual([]);
  });

  it("loads generated queries as (query, doc id) pairs, repeats allowed", async () => {
    const dir = dataset({
      "generated-queries/train.jsonl": jsonl(
        { _id: "d1", title: "T", text: "x", query: "what is x" },
        { _id: "d1", title: "T", text: "x", query: "why x" },
      ),
    });
    expect(await loadGeneratedQueries(dir)).toEqual([
      { query: "what is x", docId: "d1" },
      { query: "why x", docId: "d1" },
    ]);
  });

  it("handles a last line without newline, blank lines and a UTF-8 BOM", async () => {
    const dir = dataset({ "corpus.jsonl": "\ufeff" + jsonl({ _id: "a", text: "x" }) + "\n" + JSON.stringify({ _id: "b", text: "é" }) });
    expect((await loadCorpus(dir)).map((d) => [d.id, d.text])).toEqual([
      ["a", "x"],
      ["b", "é"],
    ]);
  });
});

describe("one document reader for BEIR corpora and user document files", () => {
  it("reads a null title as an empty one, on both paths", async () => {
    const rows = jsonl({ _id: "a", title: null, text: "x" }, { id: "b", title: "T", text: "y" });
    const dir = dataset({ "corpus.jsonl": rows, "docs.jsonl": rows });
    const want = [
      { id: "a", title: "", text: "x" },
      { id: "b", title: "T", text: "y" },
    ];
    expect(await loadCorpus(dir)).toEqual(want);
    expect(await readDocumentsJsonl(join(dir, "docs.jsonl"))).toEqual(want);
  });

  it("refuses an _id and an id that disagree, and a repeated id, naming the line", async () => {
    const dir = dataset({
      "a.jsonl": jsonl({ _id: "a", id: "a", text: "x" }, { _id: "b", id: "c", text: "y" }),
      "b.jsonl": jsonl({ id: "a", text: "x" }, { _id: "a", text: "y" }),
    });
    expect((await rejection(readDocumentsJsonl(join(dir, "a.jsonl")))).message).toMatch(/a\.jsonl:2: _id "b" and id "c" disagree/);
    expect((await rejection(readDocumentsJsonl(join(dir, "b.jsonl")))).message).toMatch(/b\.jsonl:2: duplicate document id "a" \(first at line 1\)/);
  });
});

describe("malformed input names the file and the 1-based line", () => {
  const cases: Array<[string, Record<string, string>, (dir: string) => Promise<unknown>, string, number, RegExp]> = [
    ["bad JSON", { "corpus.jsonl": jsonl({ _id: "a", text: "x" }) + "{not json\n" }, loadCorpus, "corpus.jsonl", 2, /invalid JSON/],
    ["missing _id", { "corpus.jsonl": jsonl({ _id: "a", text: "x" }, { text: "y" }) }, loadCorpus, "corpus.jsonl", 2, /missing _id/],
    ["numeric _id", { "queries.jsonl": jsonl({ _id: 7, text: "y" }) }, loadQueries, "queries.jsonl", 1, /_id must be a non-empty string/],
    ["missing text", { "queries.jsonl": jsonl({ _id: "q" }) }, loadQueries, "queries.jsonl", 1, /missing text/],
    ["non-string title", { "corpus.jsonl": jsonl({ _id: "a", title: 3, text: "x" }) }, loadCorpus, "corpus.jsonl", 1, /title must be a string/],
    ["not an object", { "corpus.jsonl": "[1,2]\n" }, loadCorpus, "corpus.jsonl", 1, /expected a JSON object/],
    [
      "duplicate doc id",
      { "corpus.jsonl": jsonl({ _id: "a", text: "x" }, { _id: "b", text: "y" }, { _id: "a", text: "z" }) },
      loadCorpus,
      "corpus.jsonl",
      3,
      /duplicate document id "a" \(first at line 1\)/,
    ],
    ["duplicate query id", { "queries.jsonl": jsonl({ _id: "q", text: "x" }, { _id: "q", text: "y" }) }, loadQueries, "queries.jsonl", 2, /duplicate query id/],
    ["non-integer score", { "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq\td\t1\nq\te\t0.5\n" }, (d) => loadQrels(d, "test"), "qrels/test.tsv", 3, /score "0.5" is not an integer/],
    ["too few columns", { "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq d 1\n" }, (d) => loadQrels(d, "test"), "qrels/test.tsv", 2, /3 tab-separated columns, found 1/],
    ["too many columns", { "qrels/test.tsv": "query-id\tcorpus-id\tscore\r\nq\t0\td\t1\r\n" }, (d) => loadQrels(d, "test"), "qrels/test.tsv", 2, /found 4/],
    ["missing header", { "qrels/test.tsv": "q\td\t1\n" }, (d) => loadQrels(d, "test"), "qrels/test.tsv", 1, /missing header/],
    [
      "duplicate judgment",
      { "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq\td\t1\nq\te\t1\nq\td\t2\n" },
      (d) => loadQrels(d, "test"),
      "qrels/test.tsv",
      4,
      /duplicate judgment for query q, doc d \(first at line 2\)/,
    ],
    ["empty corpus-id", { "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq\t\t1\n" }, (d) => loadQrels(d, "test"), "qrels/test.tsv", 2, /empty corpus-id/],
    ["bad line in a .gz file", { "corpus.jsonl.gz": jsonl({ _id: "a", text: "x" }) + "oops\n" }, loadCorpus, "corpus.jsonl.gz", 2, /invalid JSON/],
    ["bad query in generated queries", { "generated-queries/train.jsonl": jsonl({ _id: "d", text: "x" }) }, (d) => loadGeneratedQueries(d), "generated-queries/train.jsonl", 1, /missing query/],
  ];

  for (const [label, files, load, rel, line, what] of cases) {
    it(label, async () => {
      const dir = dataset(files);
      const err = await rejection(load(dir));
      expect(err.code).toBe("PARSE_ERROR");
      expect(err.message.startsWith(`${join(dir, rel)}:${line}: `)).toBe(true);
      expect(err.message).toMatch(what);
    });
  }

  it("invalid UTF-8 is reported at its line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-beir-"));
    roots.push(dir);
    writeFileSync(join(dir, "corpus.jsonl"), Buffer.concat([Buffer.from('{"_id":"a","text":"x"}\n{"_id":"b","text":"'), Buffer.from([0xff]), Buffer.from('"}\n')]));
    const err = await rejection(loadCorpus(dir));
    expect(err.message).toBe(`${join(dir, "corpus.jsonl")}:2: invalid UTF-8`);
  });

  it("a corrupt .gz is a PARSE_ERROR naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-beir-"));
    roots.push(dir);
    writeFileSync(join(dir, "corpus.jsonl.gz"), Buffer.from("not gzip at all"));
    const err = await rejection(loadCorpus(dir));
    expect(err.code).toBe("PARSE_ERROR");
    expect(err.message).toContain(join(dir, "corpus.jsonl.gz"));
  });

  it("a missing file is NOT_FOUND naming both candidates", async () => {
    const dir = dataset({ "corpus.jsonl": CORPUS });
    const err = await rejection(loadQrels(dir, "dev"));
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toContain(join(dir, "qrels", "dev.tsv"));
    expect(err.message).toContain(join(dir, "qrels", "dev.tsv.gz"));
  });

  it("a judged query missing from queries.jsonl is BAD_INPUT", async () => {
    const dir = dataset({ "corpus.jsonl": CORPUS, "queries.jsonl": jsonl({ _id: "q1", text: "x" }), "qrels/test.tsv": QRELS });
    const err = await rejection(loadBeirDataset(dir));
    expect(err.code).toBe("BAD_INPUT");
    expect(err.message).toMatch(/query id "q2" is judged but not in/);
  });
});

describe("readLines", () => {
  it("keeps a lone CR inside a line and numbers lines like an editor", async () => {
    const dir = dataset({ "f.txt": "a\r\nb\rc\n\nd" });
    const lines: Array<[number, string]> = [];
    for await (const l of readLines(join(dir, "f.txt"))) lines.push([l.lineNo, l.text]);
    expect(lines).toEqual([
      [1, "a"],
      [2, "b\rc"],
      [3, ""],
      [4, "d"],
    ]);
  });

  it("handles lines split across stream chunks", async () => {
    const long = "x".repeat(200_000);
    const dir = dataset({ "f.txt": `${long}\n${long}y\n` });
    const lengths: number[] = [];
    for await (const l of readLines(join(dir, "f.txt"))) lengths.push(l.text.length);
    expect(lengths).toEqual([200_000, 200_001]);
  });
});
