/**
 * The HTTP service: node:http, JSON API under /api/, the web page at /.
 *
 * Safe defaults: binds 127.0.0.1; writes need a Bearer token and are disabled without one;
 * starting on a non-loopback address with writes enabled and no token is refused; bodies,
 * queries, k and documents per request are bounded; slow clients are cut off by header and
 * request timeouts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fromSystemError, RouterRetrieverError } from "../errors.js";
import { RouterRetriever } from "../engine/router-retriever.js";
import type { SearchResult } from "../engine/types.js";
import { addDomain } from "../workflows/add-domain.js";
import { checkHostHeader, isLoopbackHost, MIN_TOKEN_LENGTH } from "./auth.js";
import { MicroBatcher, type BatcherOptions } from "./batcher.js";
import { HttpError, toHttpError } from "./errors.js";
import { ClientGoneError, sendError } from "./http.js";
import { openApiDocument } from "./openapi.js";
import { allowedMethods, DEFAULT_LIMITS, handleApi, type RouteContext, type ServiceEngine, type ServiceLimits } from "./routes.js";
import { Jobs } from "./jobs.js";
import { StaticFiles } from "./static.js";

export type { ServiceEngine, ServiceLimits } from "./routes.js";

export const SERVICE_VERSION = "0.1.0";

export interface ServiceOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
  /** Bearer token for write endpoints; without one, writes answer 403. */
  readonly token?: string;
  /** Disable write endpoints even when a token is set. */
  readonly readOnly?: boolean;
  readonly limits?: Partial<ServiceLimits>;
  readonly batching?: BatcherOptions;
  readonly timeouts?: Partial<ServiceTimeouts>;
  /** One line per request and per internal error (default: stderr). */
  readonly log?: (line: string) => void;
  readonly staticDir?: string;
  /** ONNX Runtime threads for background jobs (adding a domain); default 1. */
  readonly jobThreads?: number;
}

export interface ServiceTimeouts {
  /** A client must have sent all its headers this long after connecting (408 after). */
  readonly headersMs: number;
  /** ... and its whole request, body included (408 after). */
  readonly requestMs: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveMs: number;
}

export const DEFAULT_TIMEOUTS: ServiceTimeouts = { headersMs: 15_000, requestMs: 60_000, keepAliveMs: 5_000 };

export interface RunningService {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  readonly batcher: MicroBatcher<SearchResult>;
  /** Stops accepting connections, answers what is queued, then closes idle connections. */
  close(): Promise<void>;
}

/** Refuses configurations that would expose writes without authentication. */
export function checkServiceOptions(opts: ServiceOptions): void {
  const host = opts.host ?? "127.0.0.1";
  if (opts.token !== undefined && opts.token.length < MIN_TOKEN_LENGTH) {
    throw new RouterRetrieverError("BAD_INPUT", `the token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  if (!isLoopbackHost(host) && !opts.readOnly && opts.token === undefined) {
    throw new RouterRetrieverError(
      "BAD_INPUT",
      `refusing to listen on ${host} (not loopback) with write endpoints enabled and no token: pass a token (--token or ROUTERRETRIEVER_TOKEN) or --read-only`,
    );
  }
}

/** A RouterRetriever's verbs for the service, with the add-domain workflow over it. */
export function serviceEngine(rr: RouterRetriever): ServiceEngine {
  return {
    searchBatch: (q, k) => rr.searchBatch(q, k),
    listExperts: () => rr.listExperts(),
    addExpert: (name, o) => rr.addExpert(name, o),
    removeExpert: (name) => rr.removeExpert(name),
    addDocuments: (docs, o) => rr.addDocuments(docs, o),
    health: () => rr.health(),
    addDomain: (o) => addDomain(rr, o),
    parallelism: rr.parallelism,
  };
}

export async function startService(rrOrEngine: RouterRetriever | ServiceEngine, opts: ServiceOptions = {}): Promise<RunningService> {
  const engine = rrOrEngine instanceof RouterRetriever ? serviceEngine(rrOrEngine) : rrOrEngine;
  checkServiceOptions(opts);
  const host = opts.host ?? "127.0.0.1";
  const loopback = isLoopbackHost(host);
  const limits: ServiceLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const log = opts.log ?? ((line: string) => process.stderr.write(line + "\n"));
  // One batch in flight per encoder session the engine has (a core each, with serve's defaults).
  const batching: BatcherOptions = { ...opts.batching, concurrency: opts.batching?.concurrency ?? engine.parallelism ?? 1 };
  const batcher = new MicroBatcher<SearchResult>((q, k) => engine.searchBatch(q, k), (r, k) => (r.hits.length > k ? { ...r, hits: r.hits.slice(0, k) } : r), batching);
  const files = new StaticFiles(opts.staticDir);
  const token = opts.readOnly ? undefined : opts.token;
  const ctx: RouteContext = {
    engine,
    batcher,
    limits,
    token,
    jobs: new Jobs(),
    jobThreads: opts.jobThreads ?? 1,
    writesDisabledReason: opts.readOnly ? "this server was started with --read-only" : "write endpoints are disabled: the server was started without a token",
    openapi: () => openApiDocument(limits, SERVICE_VERSION),
    stats: () => ({ batching: { ...batcher.getStats(), maxWaitMs: batcher.maxWaitMs, maxBatch: batcher.maxBatch, concurrency: batcher.concurrency }, limits, writes: token !== undefined }),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    let path = "?";
    try {
      checkHostHeader(req, loopback);
      path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (path.startsWith("/api/")) await handleApi(ctx, req, res, path);
      else if (files.has(path) && (req.method === "GET" || req.method === "HEAD")) files.serve(path, res, req.method === "HEAD");
      else if (files.has(path)) throw new HttpError("METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${path}`);
      else throw new HttpError("NOT_FOUND", `no page ${path}`);
    } catch (err) {
      if (err instanceof ClientGoneError) {
        // Nobody to answer; not an error of ours either.
        res.destroy();
        return;
      }
      const { error, internal } = toHttpError(err);
      if (internal) log(`error ${req.method} ${path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      else if (error.code === "STORAGE_FULL") log(`refused ${req.method} ${path}: ${fromSystemError(err)?.message ?? String(err)}`);
      const headers: Record<string, string> = {};
      if (error.code === "METHOD_NOT_ALLOWED") headers.allow = allowedMethods(path).join(", ") || "GET, HEAD";
      if (error.code === "UNAUTHORIZED") headers["www-authenticate"] = "Bearer";
      sendError(res, error, headers);
    } finally {
      if (process.env.ROUTERRETRIEVER_ACCESS_LOG) log(`${req.method} ${path} ${res.statusCode} ${(performance.now() - started).toFixed(1)}ms`);
    }
  };

  const t: ServiceTimeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const server = createServer(
    {
      requestTimeout: t.requestMs,
      headersTimeout: Math.min(t.headersMs, t.requestMs),
      keepAliveTimeout: t.keepAliveMs,
      // Node checks the two timeouts above only every 30 s by default, so a 15 s header timeout
      // really meant up to 45 s of a held connection.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(t.headersMs / 4))),
    },
    (req, res) => void handle(req, res),
  );
  server.maxHeadersCount = 64;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${urlHost}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    server,
    batcher,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await batcher.drain();
      server.closeIdleConnections();
      // A client holding a keep-alive connection open must not keep the process alive forever.
      const force = setTimeout(() => server.closeAllConnections(), 5_000);
      await closed;
      clearTimeout(force);
    },
  };
}
