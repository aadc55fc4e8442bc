import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readDomainDocuments } from "./domain-docs.js";

const root = mkdtempSync(join(tmpdir(), "rr-domain-docs-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("readDomainDocuments", () => {
  it("reads a folder of .txt/.md files recursively: ids are paths, a Markdown heading is the title", async () => {
    const dir = join(root, "notes");
    mkdirSync(join(dir, "sub"), { recursive: true });
    mkdirSync(join(dir, ".git"));
    writeFileSync(join(dir, "a.txt"), "\uFEFFPlain text body.\r\nSecond line.\n");
    writeFileSync(join(dir, "sub", "b.md"), "\n# Wing flutter\n\nFlutter of swept wings.\n");
    writeFileSync(join(dir, "sub", "c.md"), "No heading here.\n# Later heading\n");
    writeFileSync(join(dir, "empty.md"), "  \n");
    writeFileSync(join(dir, "image.png"), "not text");
    writeFileSync(join(dir, ".git", "x.txt"), "hidden");
    const r = await readDomainDocuments(dir);
    expect(r.documents).toEqual([
      { id: "a.txt", title: "", text: "Plain text body.\nSecond line." },
      { id: "sub/b.md", title: "Wing flutter", text: "Flutter of swept wings." },
      { id: "sub/c.md", title: "", text: "No heading here.\n# Later heading" },
    ]);
    expect(r.skipped).toEqual([join(dir, "empty.md")]);
  });

  it("reads JSON lines and a BEIR folder's corpus.jsonl", async () => {
    const beir = join(root, "beir");
    mkdirSync(beir);
    writeFileSync(join(beir, "corpus.jsonl"), '{"_id":"1","title":"T","text":"x"}\n\n{"_id":"2","text":"y"}\n');
    expect((await readDomainDocuments(beir)).documents).toEqual([
      { id: "1", title: "T", text: "x" },
      { id: "2", title: "", text: "y" },
    ]);
    expect((await readDomainDocuments(join(beir, "corpus.jsonl"))).documents).toHaveLength(2);
  });

  it("refuses what it cannot use, naming the path and line", async () => {
    await expect(readDomainDocuments(join(root, "missing"))).rejects.toThrow(/missing: no such file or folder/);
    const none = join(root, "none");
    mkdirSync(none);
    writeFileSync(join(none, "x.pdf"), "%PDF");
    await expect(readDomainDocuments(none)).rejects.toThrow(/no corpus\.jsonl and no \.txt or \.md files/);
    const bad = join(root, "bad.jsonl");
    writeFileSync(bad, '{"id":"1","text":"x"}\n{"id":2,"text":"y"}\n');
    await expect(readDomainDocuments(bad)).rejects.toThrow(/bad\.jsonl:2: _id must be a non-empty string/);
  });
});
