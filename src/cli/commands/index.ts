/**
 * `routerretriever index <corpus> --store <dir|url>`: documents and their base-model vectors into
 * a store, the one format `search`, `serve` and the library read. Resumable: documents already
 * stored with the same title and text are skipped, an edited one is encoded again and replaces
 * its stored vector, and every chunk is committed on its own.
 *
 * A folder store is written through the engine by this one process. A PostgreSQL store is
 * filled by bulk workers (store/postgres/bulk.ts): this process is one, `--workers n` starts
 * n-1 more here, and the same command run on other machines adds theirs; each claims chunks
 * with SELECT ... FOR UPDATE SKIP LOCKED, and a killed worker's chunk is taken over.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { statSync } from "node:fs";
import { Command } from "commander";
import { documentText, loadCorpus, readDocumentsJsonl } from "../../data/beir.js";
import { checkDocuments } from "../../engine/methods/add-documents.js";
import { RouterRetriever } from "../../engine/router-retriever.js";
import type { StoredDocument } from "../../engine/types.js";
import { RouterRetrieverError } from "../../errors.js";
import { resolveModelSpec } from "../../model/spec.js";
import { isPostgresUrl, redactStoreLocation } from "../../store/location.js";
import { addCommandOptions, openEncoder, positiveInt, precisionFlag, printJson, threadsFlag, type CommonFlags } from "../common.js";
import { startProgress } from "../progress.js";

interface IndexFlags extends CommonFlags {
  store?: string;
  out?: string;
  chunk: string;
  workers: string;
  leaseSeconds: string;
}

export function indexCommand(): Command {
  return addCommandOptions(
    new Command("index")
      .description("Add a corpus to a store (folder or postgres:// URL) with the base model; an interrupted run resumes")
      .argument("<corpus>", "a BEIR dataset folder holding corpus.jsonl[.gz], or a JSON-lines file of {id,title,text}")
      .option("--store <dir|url>", "store folder (created if absent) or postgres:// URL")
      .option("--out <dir>", "same as --store (older name)")
      .option("--chunk <n>", "documents per committed chunk", "256")
      .option("--workers <n>", "PostgreSQL store: worker processes to run here", "1")
      .option("--lease-seconds <s>", "PostgreSQL store: how long a silent worker keeps its chunk before another takes it over", "60"),
    { json: "a JSON summary", quiet: true },
  ).action(async (corpus: string, flags: IndexFlags) => {
    const store = flags.store ?? flags.out;
    if (store === undefined) throw new RouterRetrieverError("BAD_INPUT", "--store <dir|url> is required");
    const chunk = positiveInt(flags.chunk, "--chunk");
    const workers = positiveInt(flags.workers, "--workers");
    const docs = checkDocuments(await readCorpus(corpus));
    const t0 = Date.now();
    const summary = isPostgresUrl(store)
      ? await indexIntoPostgres(store, docs, { flags, chunk, workers })
      : await indexIntoFolder(store, docs, { flags, chunk, workers });
    const out = { store: redactStoreLocation(store), ...summary, seconds: (Date.now() - t0) / 1000 };
    if (flags.json) printJson(out);
    else if (!flags.quiet) console.error(`indexed into ${out.store}: ${out.documents} documents in the store (${out.encoded} encoded by this run${out.replaced ? `, ${out.replaced} of them edited since stored` : ""}, ${out.alreadyThere} already there)`);
  });
}

interface IndexSummary {
  readonly documents: number;
  readonly encoded: number;
  /** Documents stored already (same id and text) and not encoded again. */
  readonly alreadyThere: number;
  /** Stored documents whose title or text changed: encoded again, old vector replaced (folder store). */
  readonly replaced?: number;
  readonly modelId: string;
  readonly workers?: number;
  readonly takenOver?: number;
  /** PostgreSQL: seconds this run spent building the HNSW index after loading an empty table without it. */
  readonly indexBuildSeconds?: number;
}

interface RunContext {
  readonly flags: IndexFlags;
  readonly chunk: number;
  readonly workers: number;
}

async function readCorpus(path: string): Promise<StoredDocument[]> {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new RouterRetrieverError("NOT_FOUND", `${path}: no such corpus (a BEIR dataset folder or a JSON-lines file)`);
  }
  if (isFile) return [...(await readDocumentsJsonl(path))];
  return (await loadCorpus(path)).map((d) => ({ id: d.id, title: d.title, text: d.text }));
}

async function indexIntoFolder(store: string, docs: readonly StoredDocument[], ctx: RunContext): Promise<IndexSummary> {
  if (ctx.workers > 1) throw new RouterRetrieverError("BAD_INPUT", "--workers needs a PostgreSQL store: a store folder is written by one process");
  const rr = await RouterRetriever.open({
    store,
    model: ctx.flags.model,
    threads: threadsFlag(ctx.flags),
    precision: precisionFlag(ctx.flags),
    onWarning: (m) => process.stderr.write(`routerretriever: warning: ${m}\n`),
  });
  try {
    const bar = startProgress("index", docs.length, { unit: "docs", quiet: ctx.flags.quiet });
    const r = await rr.indexDocuments(docs, { chunkSize: ctx.chunk, onProgress: (p) => bar.update(p.done) });
    bar.stop();
    return { documents: r.total, encoded: r.added + r.replaced, alreadyThere: r.unchanged, replaced: r.replaced, modelId: rr.modelId };
  } finally {
    await rr.close();
  }
}

async function indexIntoPostgres(url: string, docs: readonly StoredDocument[], ctx: RunContext): Promise<IndexSummary> {
  const { bulkIndex } = await import("../../store/postgres/bulk.js");
  const { openStore } = await import("../../store/open.js");
  const spec = resolveModelSpec(ctx.flags.model);
  const storeSpec = { modelId: spec.id, dims: spec.config.hiddenSize, pooling: spec.pooling, normalized: spec.normalize };
  const before = await openStore(url, storeSpec).then(async (s) => {
    try {
      return await s.unchanged(docs);
    } finally {
      await s.close();
    }
  });
  const children = startHelperWorkers(ctx.workers - 1);
  const enc = await openEncoder(ctx.flags);
  const progress = startProgress("index", docs.length, { unit: "docs", quiet: ctx.flags.quiet });
  let barStopped = false;
  const stopBar = (): void => {
    if (!barStopped) progress.stop();
    barStopped = true;
  };
  try {
    const r = await bulkIndex(url, storeSpec, docs, {
      chunkSize: ctx.chunk,
      leaseSeconds: Number(ctx.flags.leaseSeconds),
      encode: (part) => enc.encode(part.map(documentText)),
      onProgress: (p) => {
        if (!barStopped) progress.update(p.done, { here: p.encodedHere });
      },
      onIndexBuild: (n) => {
        stopBar();
        if (!ctx.flags.quiet) process.stderr.write(`building the HNSW index over ${n} documents (the load ran without it; this can take minutes)\n`);
      },
    });
    await Promise.all(children.map(waitFor));
    stopBar();
    const after = await openStore(url, storeSpec).then(async (s) => {
      try {
        return await s.count();
      } finally {
        await s.close();
      }
    });
    return {
      documents: after,
      encoded: r.encodedHere,
      alreadyThere: before.size,
      modelId: spec.id,
      workers: ctx.workers,
      takenOver: r.takenOver,
      ...(r.indexBuild ? { indexBuildSeconds: r.indexBuild.seconds } : {}),
    };
  } catch (err) {
    for (const c of children) c.kill();
    throw err;
  } finally {
    await enc.close();
  }
}

/** Runs this same command `n` more times as quiet single workers (they share the job through the database). */
function startHelperWorkers(n: number): ChildProcess[] {
  const args = process.argv.slice(1);
  const at = args.indexOf("--workers");
  const base = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args.filter((a) => !a.startsWith("--workers="));
  const childArgs = [...base.filter((a) => a !== "--json"), "--workers", "1", "--quiet"];
  return Array.from({ length: n }, () => spawn(process.execPath, [...process.execArgv, ...childArgs], { stdio: ["ignore", "ignore", "inherit"] }));
}

function waitFor(c: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    if (c.exitCode !== null) return c.exitCode === 0 ? resolve() : reject(new RouterRetrieverError("INTERNAL", `a helper index worker exited with code ${c.exitCode}`));
    c.once("exit", (code) => (code === 0 ? resolve() : reject(new RouterRetrieverError("INTERNAL", `a helper index worker exited with code ${String(code)}`))));
  });
}
