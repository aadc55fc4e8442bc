/**
 * The API's routes: one small handler per endpoint, validation at the edge (so the engine only
 * ever sees well-formed input), writes behind the token.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouterRetriever } from "../engine/router-retriever.js";
import type { SearchResult } from "../engine/types.js";
import { requireToken } from "./auth.js";
import type { MicroBatcher } from "./batcher.js";
import { HttpError } from "./errors.js";
import { asObject, readJsonBody, sendJson } from "./http.js";
import { hasVisibleText } from "../engine/methods/search.js";
import type { Jobs } from "./jobs.js";
import type { AddDomainOptions, AddDomainResult } from "../workflows/add-domain.js";

/**
 * What the service drives: the engine's verbs and the add-domain workflow (startService builds
 * it from a RouterRetriever; tests pass a stand-in that changes a verb's options).
 */
export type ServiceEngine = Pick<RouterRetriever, "searchBatch" | "listExperts" | "addExpert" | "removeExpert" | "addDocuments" | "health"> & {
  readonly addDomain: (o: AddDomainOptions) => Promise<AddDomainResult>;
  /** Search batches the engine can run side by side (its parallel encoder sessions; default 1). */
  readonly parallelism?: number;
};

export interface ServiceLimits {
  /** Largest request body accepted (413 above). */
  readonly maxBodyBytes: number;
  /**
   * Longest query, in characters (400 above). The model reads at most 256 tokens, but a query
   * can legitimately be a whole argument (ArguAna's are up to ~2,800 characters).
   */
  readonly maxQueryChars: number;
  /** Largest k (400 above). */
  readonly maxK: number;
  /** Most documents in one POST /api/documents (413 above). */
  readonly maxDocuments: number;
  /** Largest POST /api/domains body: a whole domain's documents in one request (413 above). */
  readonly maxDomainBodyBytes: number;
}

export const DEFAULT_LIMITS: ServiceLimits = { maxBodyBytes: 1 << 20, maxQueryChars: 4096, maxK: 100, maxDocuments: 256, maxDomainBodyBytes: 64 << 20 };
export const DEFAULT_K = 10;

export interface RouteContext {
  readonly engine: ServiceEngine;
  readonly batcher: MicroBatcher<SearchResult>;
  readonly limits: ServiceLimits;
  /** undefined: writes are disabled (403). */
  readonly token: string | undefined;
  readonly writesDisabledReason: string;
  readonly jobs: Jobs;
  /** ONNX Runtime threads for jobs' encoding and training. */
  readonly jobThreads: number;
  readonly openapi: () => object;
  readonly stats: () => object;
}

type Handler = (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void>;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly write: boolean;
  readonly handler: Handler;
}

const searchRoute: Handler = async (ctx, req, res) => {
  const body = asObject(await readJsonBody(req, ctx.limits.maxBodyBytes), ["query", "k"]);
  const { query } = body;
  if (typeof query !== "string" || !hasVisibleText(query)) throw new HttpError("BAD_INPUT", "query must be a string with at least one visible character");
  if (query.length > ctx.limits.maxQueryChars) throw new HttpError("BAD_INPUT", `query is ${query.length} characters; the limit is ${ctx.limits.maxQueryChars}`);
  const k = body.k === undefined ? DEFAULT_K : body.k;
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > ctx.limits.maxK) throw new HttpError("BAD_INPUT", `k must be an integer from 1 to ${ctx.limits.maxK}, got ${JSON.stringify(k)}`);
  const t0 = performance.now();
  const r = await ctx.batcher.submit(query, k);
  sendJson(res, 200, { query, k, ...r, tookMs: Math.round((performance.now() - t0) * 100) / 100 });
};

const listExpertsRoute: Handler = async (ctx, _req, res) => {
  sendJson(res, 200, { experts: ctx.engine.listExperts() });
};

const addExpertRoute: Handler = async (ctx, req, res) => {
  const { name } = asObject(await readJsonBody(req, ctx.limits.maxBodyBytes), ["name"]);
  if (typeof name !== "string") throw new HttpError("BAD_INPUT", "name must be a string: an expert folder name inside the server's experts folder");
  sendJson(res, 201, await ctx.engine.addExpert(name));
};

const removeExpertRoute: Handler = async (ctx, _req, res, params) => {
  sendJson(res, 200, await ctx.engine.removeExpert(params.name!));
};

const addDocumentsRoute: Handler = async (ctx, req, res) => {
  const { documents } = asObject(await readJsonBody(req, ctx.limits.maxBodyBytes), ["documents"]);
  if (!Array.isArray(documents)) throw new HttpError("BAD_INPUT", "documents must be an array of {id, title, text}");
  if (documents.length === 0) throw new HttpError("BAD_INPUT", "documents is empty");
  if (documents.length > ctx.limits.maxDocuments) throw new HttpError("LIMIT_EXCEEDED", `${documents.length} documents in one request; the limit is ${ctx.limits.maxDocuments}`);
  documents.forEach((d, i) => asObject(d, ["id", "title", "text"], `documents[${i}]`));
  // The engine validates each document's fields (and re-checks ids at commit).
  sendJson(res, 201, await ctx.engine.addDocuments(documents));
};

const DOMAIN_FIELDS = new Set(["name", "documents", "epochs", "maxPairs", "evidenceQueries"]);

/** Starts adding a domain (documents -> store, expert on pseudo-queries, routing evidence) as a job. */
const addDomainRoute: Handler = async (ctx, req, res) => {
  const body = asObject(await readJsonBody(req, ctx.limits.maxDomainBodyBytes), [...DOMAIN_FIELDS]);
  const { name, documents } = body;
  if (typeof name !== "string") throw new HttpError("BAD_INPUT", "name must be a string: the new domain's (and expert's) name");
  if (!Array.isArray(documents)) throw new HttpError("BAD_INPUT", "documents must be an array of {id, title, text}");
  const opt = (key: string): number | undefined => {
    const v = body[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 100_000) throw new HttpError("BAD_INPUT", `${key} must be an integer from 1 to 100000, got ${JSON.stringify(v)}`);
    return v;
  };
  const epochs = opt("epochs");
  const maxPairs = opt("maxPairs");
  const evidenceQueries = opt("evidenceQueries");
  const job = await ctx.jobs.start("add-domain", name, (progress) =>
    ctx.engine.addDomain({ name, documents, epochs, maxPairs, evidenceQueries, threads: ctx.jobThreads, onProgress: progress }),
  );
  sendJson(res, 202, { job });
};

const getJobRoute: Handler = async (ctx, _req, res, params) => {
  sendJson(res, 200, { job: ctx.jobs.get(params.id!) });
};

const listJobsRoute: Handler = async (ctx, _req, res) => {
  sendJson(res, 200, { jobs: ctx.jobs.list() });
};

const healthRoute: Handler = async (ctx, _req, res) => {
  sendJson(res, 200, { ...(await ctx.engine.health()), service: ctx.stats() });
};

const openapiRoute: Handler = async (ctx, _req, res) => {
  sendJson(res, 200, ctx.openapi());
};

const ROUTES: readonly Route[] = [
  { method: "POST", pattern: /^\/api\/search$/, write: false, handler: searchRoute },
  { method: "GET", pattern: /^\/api\/experts$/, write: false, handler: listExpertsRoute },
  { method: "POST", pattern: /^\/api\/experts$/, write: true, handler: addExpertRoute },
  { method: "DELETE", pattern: /^\/api\/experts\/(?<name>[^/]+)$/, write: true, handler: removeExpertRoute },
  { method: "POST", pattern: /^\/api\/documents$/, write: true, handler: addDocumentsRoute },
  { method: "POST", pattern: /^\/api\/domains$/, write: true, handler: addDomainRoute },
  { method: "GET", pattern: /^\/api\/jobs$/, write: false, handler: listJobsRoute },
  { method: "GET", pattern: /^\/api\/jobs\/(?<id>[^/]+)$/, write: false, handler: getJobRoute },
  { method: "GET", pattern: /^\/api\/health$/, write: false, handler: healthRoute },
  { method: "GET", pattern: /^\/api\/openapi\.json$/, write: false, handler: openapiRoute },
];

/** Dispatches an /api/ request; throws HttpError for unknown paths and methods. */
export async function handleApi(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const matching = ROUTES.filter((r) => r.pattern.test(path));
  if (matching.length === 0) throw new HttpError("NOT_FOUND", `no endpoint ${path} (see /api/openapi.json)`);
  const route = matching.find((r) => r.method === req.method);
  if (!route) throw new HttpError("METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${path} (allowed: ${matching.map((r) => r.method).join(", ")})`);
  if (route.write) {
    if (ctx.token === undefined) throw new HttpError("FORBIDDEN", ctx.writesDisabledReason);
    requireToken(req, ctx.token);
  }
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(route.pattern.exec(path)?.groups ?? {})) {
    try {
      params[k] = decodeURIComponent(v);
    } catch {
      throw new HttpError("BAD_INPUT", `path parameter ${k} is not valid percent-encoding`);
    }
  }
  await route.handler(ctx, req, res, params);
}

export function allowedMethods(path: string): string[] {
  return ROUTES.filter((r) => r.pattern.test(path)).map((r) => r.method);
}
