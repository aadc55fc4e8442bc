/**
 * A user's documents for a new domain, from whatever they have: a JSON-lines file of
 * {"id" (or "_id"), "title", "text"}, a BEIR dataset folder (its corpus.jsonl), or a folder of
 * .txt / .md files (recursively; the id is the path inside the folder, a Markdown file's first
 * "# " heading is its title). Errors name the file and line; nothing is read twice.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import type { Doc as StoredDocument } from "./beir.js";
import { readDocumentsJsonl } from "./beir.js";

const TEXT_EXTENSIONS = new Set([".txt", ".md", ".markdown"]);

export interface DomainDocuments {
  readonly documents: StoredDocument[];
  /** What was read, for messages: "corpus.jsonl (1,400 lines)", "312 .txt/.md files". */
  readonly description: string;
  /** Files skipped because they hold no text. */
  readonly skipped: readonly string[];
}

export async function readDomainDocuments(path: string): Promise<DomainDocuments> {
  if (!existsSync(path)) throw new RouterRetrieverError("NOT_FOUND", `${path}: no such file or folder`);
  const st = statSync(path);
  if (st.isFile()) {
    if (TEXT_EXTENSIONS.has(extname(path).toLowerCase())) return fromTextFiles(path, [path]);
    return { documents: await readDocumentsJsonl(path), description: path, skipped: [] };
  }
  if (!st.isDirectory()) throw new RouterRetrieverError("BAD_INPUT", `${path}: neither a file nor a folder`);
  const corpus = join(path, "corpus.jsonl");
  if (existsSync(corpus)) return { documents: await readDocumentsJsonl(corpus), description: corpus, skipped: [] };
  const files = walk(path).filter((f) => TEXT_EXTENSIONS.has(extname(f).toLowerCase()));
  if (files.length === 0) throw new RouterRetrieverError("BAD_INPUT", `${path}: no corpus.jsonl and no .txt or .md files in this folder`);
  return fromTextFiles(path, files);
}

function fromTextFiles(root: string, files: readonly string[]): DomainDocuments {
  const rootIsFile = files.length === 1 && files[0] === root;
  const documents: StoredDocument[] = [];
  const skipped: string[] = [];
  for (const f of files) {
    const raw = readFileSync(f, "utf8").replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
    const id = rootIsFile ? f.split(sep).pop()! : relative(root, f).split(sep).join("/");
    let title = "";
    let text = raw.trim();
    if (extname(f).toLowerCase() !== ".txt") {
      const m = /^#[ \t]+(.+)$/m.exec(text);
      if (m && text.slice(0, m.index).trim() === "") {
        title = m[1]!.trim();
        text = text.slice(m.index + m[0].length).trim();
      }
    }
    if (title === "" && text === "") {
      skipped.push(f);
      continue;
    }
    documents.push({ id, title, text });
  }
  if (documents.length === 0) throw new RouterRetrieverError("BAD_INPUT", `${root}: every .txt/.md file is empty`);
  return { documents, description: `${documents.length} .txt/.md files under ${root}`, skipped };
}

/** Files under dir, sorted, skipping dot-files and dot-folders (.git and the like). */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
