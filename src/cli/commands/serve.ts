/**
 * `routerretriever serve`: the HTTP API and web page over a store. With no --store it serves
 * the demo: the committed sample corpus (indexed into ~/.cache/routerretriever/demo-store on
 * first run, with a progress bar), demo/experts and demo/pilots.json when they exist (base-only
 * routing until then).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { Command } from "commander";
import { RouterRetriever } from "../../engine/router-retriever.js";
import { beirDomainsProvider } from "../../engine/components/beir-domains.js";
import { readDocumentsJsonl } from "../../data/beir.js";
import { RouterRetrieverError } from "../../errors.js";
import { isLoopbackHost } from "../../service/auth.js";
import { demoPaths } from "../../service/demo.js";
import { checkServiceOptions, startService, type ServiceOptions } from "../../service/server.js";
import { isPostgresUrl, redactStoreLocation } from "../../store/open.js";
import { addCommandOptions, defaultThreads, EF_SEARCH_OPTION, efSearchFlag, requireDir, requireFile, requireOutputDir, positiveInt, precisionFlag, BASE_MARGIN_OPTION, ROUTER_OPTION, routerFlag, threadsFlag } from "../common.js";
import { startProgress } from "../progress.js";

interface ServeFlags {
  store?: string;
  exact?: boolean;
  efSearch?: string;
  experts?: string;
  pilots?: string;
  corpus?: string;
  pilotDomains?: string;
  model: string;
  threads: string;
  sessions: string;
  precision: string;
  host: string;
  port: string;
  token?: string;
  readOnly?: boolean;
  maxBody: string;
  batchWait: string;
  batchMax: string;
  quiet?: boolean;
  router?: string;
  baseMargin?: string;
}

export function serveCommand(): Command {
  return addCommandOptions(new Command("serve")
    .description("Serve the search API and web page (default: the demo corpus on http://127.0.0.1:8080)")
    .option("--store <dir|url>", "store folder (created if absent) or postgres:// URL; default: the demo store in the cache folder")
    .option("--exact", "PostgreSQL store: exact scan instead of the HNSW index")
    .option(EF_SEARCH_OPTION[0], EF_SEARCH_OPTION[1])
    .option("--experts <dir>", "folder of expert folders (PEFT layout); default with the demo: demo/experts")
    .option("--pilots <file>", "pilot library file; default with the demo: demo/pilots.json")
    .option("--corpus <file>", "JSON-lines documents {id,title,text} to add when missing from the store; default with the demo: demo/corpus.jsonl")
    .option(ROUTER_OPTION[0], ROUTER_OPTION[1], ROUTER_OPTION[2])
    .option(BASE_MARGIN_OPTION[0], BASE_MARGIN_OPTION[1])
    .option("--pilot-domains <dir>", "BEIR datasets folder, to give newly added experts pilots from the library's labels")
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--port <n>", "port (0 = any free port)", "8080")
    .option("--token <token>", "Bearer token for write endpoints (or ROUTERRETRIEVER_TOKEN); on loopback one is generated when absent")
    .option("--read-only", "disable write endpoints")
    .option("--max-body <bytes>", "largest request body", String(1 << 20))
    .option("--batch-wait <ms>", "longest wait to fill a search batch", "5")
    .option("--batch-max <n>", "most queries per search batch", "32")
    .option("--sessions <n>", "ONNX Runtime sessions per encoder, each on its own worker thread, answering search batches side by side; with more than one, --threads defaults to 1 per session (default: the machine's cores)", String(defaultThreads())),
    { quiet: "no progress output" },
  ).action(async (flags: ServeFlags, cmd: Command) => {
      const demo = flags.store === undefined;
      const paths = demoPaths();
      const storeDir = flags.store ?? paths.storeDir;
      const expertsDir = flags.experts ?? (demo ? paths.expertsDir : undefined);
      // Paths first: a typo must not cost a model load.
      if (!isPostgresUrl(storeDir)) requireOutputDir(storeDir, "--store");
      const efSearch = efSearchFlag(flags, storeDir);
      if (flags.experts !== undefined) requireDir(flags.experts, "--experts");
      if (flags.pilots !== undefined) requireFile(flags.pilots, "--pilots");
      if (flags.corpus !== undefined) requireFile(flags.corpus, "--corpus");
      // The demo routes once demo/pilots.json exists; a library named with --pilots must exist.
      const pilotsPath = flags.pilots ?? (demo && existsSync(paths.pilotsPath) ? paths.pilotsPath : undefined);
      const corpusPath = flags.corpus ?? (demo ? paths.corpusPath : undefined);
      const readOnly = flags.readOnly === true;
      let token = flags.token ?? process.env.ROUTERRETRIEVER_TOKEN;
      let generated = false;
      if (token === undefined && !readOnly && isLoopbackHost(flags.host)) {
        token = randomBytes(18).toString("base64url");
        generated = true;
      }
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RouterRetrieverError("BAD_INPUT", `--port must be 0..65535, got "${flags.port}"`);
      const serviceOpts: ServiceOptions = {
        host: flags.host,
        port,
        token,
        readOnly,
        limits: { maxBodyBytes: positiveInt(flags.maxBody, "--max-body") },
        jobThreads: positiveInt(flags.threads, "--threads"),
        batching: { maxWaitMs: Number(flags.batchWait), maxBatch: positiveInt(flags.batchMax, "--batch-max") },
      };
      // A session per core, one thread each (bench/service.ts: faster under load than one
      // session on every core); an explicit --threads still applies to each session.
      const sessions = positiveInt(flags.sessions, "--sessions");
      // Refuse an unsafe configuration before spending seconds loading the model.
      checkServiceOptions(serviceOpts);
      const say = (m: string): void => {
        if (!flags.quiet) process.stderr.write(`${m}\n`);
      };

      const corpus = corpusPath !== undefined ? await readDocumentsJsonl(corpusPath) : [];
      say(`opening store ${redactStoreLocation(storeDir)}`);
      const rr = await RouterRetriever.open({
        store: storeDir,
        exactSearch: flags.exact === true,
        efSearch,
        expertsDir,
        pilotsPath,
        model: flags.model,
        threads: sessions > 1 && cmd.getOptionValueSource("threads") === "default" ? 1 : threadsFlag(flags),
        sessions,
        precision: precisionFlag(flags),
        rule: routerFlag(flags.router, flags.baseMargin),
        pilotDomains: flags.pilotDomains !== undefined ? beirDomainsProvider(flags.pilotDomains) : undefined,
        onWarning: (m) => process.stderr.write(`routerretriever: warning: ${m}\n`),
      });
      if (corpusPath !== undefined) {
        const bar = startProgress("indexing", corpus.length, { unit: "docs", quiet: flags.quiet });
        await rr.indexDocuments(corpus, { chunkSize: 64, onProgress: (p) => bar.update(p.done) });
        bar.stop();
      }
      const h = await rr.health();
      say(`${h.documents} documents, ${h.experts.active} active experts (${h.experts.routable} routable), ${h.pilots} pilots`);
      if (demo && h.experts.active === 0) say(`no experts in ${expertsDir} yet: every query uses the base model`);

      const svc = await startService(rr, serviceOpts);
      process.stderr.write(`listening on ${svc.url}\n`);
      if (readOnly) say("write endpoints disabled (--read-only)");
      else if (generated) say(`write token (generated for this run; pass --token or ROUTERRETRIEVER_TOKEN to choose one): ${token}`);

      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      say("shutting down");
      await svc.close();
      await rr.close();
    });
}
