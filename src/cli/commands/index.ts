import { existsSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { documentText, loadCorpus } from "../../data/beir.js";
import { createIndex, openIndex, MANIFEST_FILE } from "../../vectors/store.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { addModelOptions, openEncoder, printJson, positiveInt, type ModelFlags } from "../common.js";
import { startProgress } from "../progress.js";

export const DOCS_FILE = "docs.jsonl";

export function indexCommand(): Command {
  return addModelOptions(
    new Command("index")
      .description("Build (or resume building) a vector index of a BEIR corpus with the base model")
      .argument("<corpus>", "a BEIR dataset folder holding corpus.jsonl[.gz]")
      .requiredOption("--out <dir>", "index folder (created; an interrupted build resumes)")
      .option("--chunk <n>", "documents per committed chunk", "512")
      .option("--json", "print a JSON summary on stdout")
      .option("--quiet", "no progress on stderr"),
  ).action(async (corpusDir: string, flags: ModelFlags & { out: string; chunk: string; json?: boolean; quiet?: boolean }) => {
    const docs = await loadCorpus(corpusDir);
    const enc = await openEncoder(flags);
    const spec = { modelId: enc.spec.id, dims: enc.dims, pooling: enc.spec.pooling, normalized: enc.spec.normalize };
    const index = existsSync(join(flags.out, MANIFEST_FILE)) ? openIndex(flags.out, spec) : createIndex(flags.out, spec);
    // Titles and texts ride along so `search` and the service can show hits, not just ids.
    writeFileAtomic(join(flags.out, DOCS_FILE), docs.map((d) => JSON.stringify({ _id: d.id, title: d.title, text: d.text })).join("\n") + "\n");
    const todo = docs.filter((d) => !index.has(d.id));
    const chunk = positiveInt(flags.chunk, "--chunk");
    const bar = startProgress("index", docs.length, { unit: "docs", quiet: flags.quiet });
    bar.update(docs.length - todo.length);
    const t0 = Date.now();
    for (let i = 0; i < todo.length; i += chunk) {
      const part = todo.slice(i, i + chunk);
      const vecs = await enc.encode(part.map(documentText), { onProgress: (p) => bar.update(docs.length - todo.length + i + p.done) });
      index.add(part.map((d) => d.id), vecs);
      index.save(); // each chunk is committed: an interrupted build resumes after it
    }
    bar.stop();
    await enc.close();
    const summary = { index: flags.out, documents: index.size, encoded: todo.length, resumedFrom: docs.length - todo.length, seconds: (Date.now() - t0) / 1000, modelId: spec.modelId };
    if (flags.json) printJson(summary);
    else console.error(`indexed ${summary.documents} documents into ${flags.out} (${summary.encoded} encoded now, ${summary.resumedFrom} already there)`);
  });
}
