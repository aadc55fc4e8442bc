import { existsSync } from "node:fs";
import { readDocumentsJsonl } from "../../data/beir.js";
import { join } from "node:path";
import { Command } from "commander";
import { openIndex } from "../../vectors/store.js";
import { addModelOptions, openEncoder, printJson, positiveInt, type ModelFlags } from "../common.js";
import { DOCS_FILE } from "./index.js";

export function searchCommand(): Command {
  return addModelOptions(
    new Command("search")
      .description("Search an index built by `routerretriever index`")
      .argument("<index>", "index folder")
      .argument("<queries...>", "query texts")
      .option("-k, --k <n>", "hits per query", "10")
      .option("--json", "print JSON on stdout"),
  ).action(async (dir: string, queries: string[], flags: ModelFlags & { k: string; json?: boolean }) => {
    const enc = await openEncoder(flags);
    const index = openIndex(dir, { modelId: enc.spec.id, dims: enc.dims });
    const docsPath = join(dir, DOCS_FILE);
    const titles = new Map<string, string>();
    if (existsSync(docsPath)) for (const d of await readDocumentsJsonl(docsPath)) titles.set(d.id, (d.title || d.text).slice(0, 100));
    const hits = index.search(await enc.encode(queries), positiveInt(flags.k, "-k"));
    await enc.close();
    const out = queries.map((q, i) => ({ query: q, hits: hits[i]!.map((h) => ({ id: h.id, score: h.score, title: titles.get(h.id) ?? "" })) }));
    if (flags.json) return printJson(out);
    for (const r of out) {
      console.log(`\n${r.query}`);
      r.hits.forEach((h, j) => console.log(`${String(j + 1).padStart(3)}. ${h.score.toFixed(4)}  ${h.id}  ${h.title}`));
    }
  });
}
