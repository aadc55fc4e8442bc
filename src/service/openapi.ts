/** The API's OpenAPI 3.1 description, written by hand next to the routes it describes. */
import { STATUS, type ServiceErrorCode } from "./errors.js";
import type { ServiceLimits } from "./routes.js";

const json = (schema: object) => ({ content: { "application/json": { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function errorResponses(codes: readonly ServiceErrorCode[]): Record<string, object> {
  const out: Record<string, { description: string; content: object }> = {};
  for (const c of codes) {
    const status = String(STATUS[c]);
    const prev = out[status];
    out[status] = { description: prev ? `${prev.description}, ${c}` : c, ...json(ref("Error")) };
  }
  return out;
}

const WRITE_ERRORS: ServiceErrorCode[] = ["BAD_INPUT", "UNAUTHORIZED", "FORBIDDEN", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "INTERNAL"];

export function openApiDocument(limits: ServiceLimits, version: string): object {
  return {
    openapi: "3.1.0",
    info: {
      title: "RouterRetriever",
      version,
      description:
        "Dense retrieval with a frozen base embedding model plus per-domain LoRA experts; a router picks one expert per query " +
        "(RouterRetriever, AAAI 2025). Every error is {\"error\": {\"code\", \"message\"}} with a status fixed by its code. " +
        "Write endpoints need 'Authorization: Bearer <token>'.",
    },
    servers: [{ url: "/" }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: { code: { type: "string", enum: Object.keys(STATUS) }, message: { type: "string" } },
            },
          },
        },
        SearchRequest: {
          type: "object",
          required: ["query"],
          additionalProperties: false,
          properties: {
            query: { type: "string", minLength: 1, maxLength: limits.maxQueryChars },
            k: { type: "integer", minimum: 1, maximum: limits.maxK, default: 10 },
          },
        },
        Hit: {
          type: "object",
          required: ["id", "score", "title", "snippet"],
          properties: { id: { type: "string" }, score: { type: "number" }, title: { type: "string" }, snippet: { type: "string" } },
        },
        SearchResponse: {
          type: "object",
          required: ["query", "k", "expert", "weights", "explanation", "scores", "hits", "tookMs"],
          properties: {
            query: { type: "string" },
            k: { type: "integer" },
            expert: { type: "string", description: "the expert the router chose; \"base\" means no LoRA" },
            weights: { type: "object", additionalProperties: { type: "number" }, description: "the mix the query was embedded with: candidate -> weight, summing to 1 (one candidate with weight 1 when routing is hard)" },
            explanation: { type: "string", description: "what the router did, in words: the experts' shares of the mix, or why the query stayed with the base" },
            scores: { type: "object", additionalProperties: { type: "number" }, description: "routing score of every candidate that has pilots" },
            routingNote: { type: "string", description: "why some candidate could not be chosen, when that is the case" },
            hits: { type: "array", items: ref("Hit") },
            tookMs: { type: "number" },
          },
        },
        Expert: {
          type: "object",
          required: ["name", "active", "routable", "pilots"],
          properties: {
            name: { type: "string" },
            active: { type: "boolean" },
            routable: { type: "boolean", description: "active and has pilots, so the router can choose it" },
            pilots: { type: "integer" },
            domain: { type: "string" },
            error: { type: "string", description: "why the folder could not be loaded" },
          },
        },
        Document: {
          type: "object",
          required: ["id", "text"],
          properties: { id: { type: "string", minLength: 1, maxLength: 512 }, title: { type: "string" }, text: { type: "string" } },
        },
        Job: {
          type: "object",
          required: ["id", "kind", "name", "state", "stage", "done", "total", "unit", "rate", "elapsedSeconds", "log"],
          properties: {
            id: { type: "string" },
            kind: { type: "string", enum: ["add-domain"] },
            name: { type: "string" },
            state: { type: "string", enum: ["running", "done", "failed"] },
            stage: { type: "string", description: "documents, train, evidence, register" },
            done: { type: "integer" },
            total: { type: "integer" },
            unit: { type: "string" },
            rate: { type: "number", description: "items per second in the current stage" },
            etaSeconds: { type: "number" },
            elapsedSeconds: { type: "number" },
            log: { type: "array", items: { type: "string" } },
            result: { type: "object", description: "when done: the expert, documents, training and evidence summaries, seconds per stage" },
            error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } } },
          },
        },
      },
    },
    paths: {
      "/api/search": {
        post: {
          summary: "Route the query to one expert and return the top k documents",
          requestBody: { required: true, ...json(ref("SearchRequest")) },
          responses: { "200": { description: "results", ...json(ref("SearchResponse")) }, ...errorResponses(["BAD_INPUT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "OVERLOADED", "INTERNAL"]) },
        },
      },
      "/api/experts": {
        get: {
          summary: "Active experts and the expert folders that could be added",
          responses: { "200": { description: "experts", ...json({ type: "object", properties: { experts: { type: "array", items: ref("Expert") } } }) } },
        },
        post: {
          summary: "Activate an expert folder (by name) of the server's experts folder",
          security: [{ bearer: [] }],
          requestBody: { required: true, ...json({ type: "object", required: ["name"], properties: { name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$" } } }) },
          responses: {
            "201": {
              description: "activated",
              ...json({ type: "object", properties: { expert: ref("Expert"), pilotsAdded: { type: "integer" }, note: { type: "string" } } }),
            },
            ...errorResponses([...WRITE_ERRORS, "NOT_FOUND", "CONFLICT", "MODEL_MISMATCH", "SHAPE_MISMATCH"]),
          },
        },
      },
      "/api/experts/{name}": {
        delete: {
          summary: "Deactivate an expert (its folder and pilots are kept)",
          security: [{ bearer: [] }],
          parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": { description: "deactivated", ...json({ type: "object", properties: { removed: { type: "string" }, active: { type: "array", items: { type: "string" } } } }) },
            ...errorResponses([...WRITE_ERRORS, "NOT_FOUND"]),
          },
        },
      },
      "/api/documents": {
        post: {
          summary: `Add up to ${limits.maxDocuments} documents (embedded with the base model; committed before the reply)`,
          security: [{ bearer: [] }],
          requestBody: { required: true, ...json({ type: "object", required: ["documents"], properties: { documents: { type: "array", maxItems: limits.maxDocuments, items: ref("Document") } } }) },
          responses: {
            "201": { description: "added", ...json({ type: "object", properties: { added: { type: "integer" }, total: { type: "integer" } } }) },
            ...errorResponses([...WRITE_ERRORS, "CONFLICT", "LIMIT_EXCEEDED"]),
          },
        },
      },
      "/api/domains": {
        post: {
          summary: "Add a domain from its documents alone, as a background job: documents into the store, an expert trained on pseudo-queries, registered with its routing evidence",
          security: [{ bearer: [] }],
          requestBody: {
            required: true,
            ...json({
              type: "object",
              required: ["name", "documents"],
              additionalProperties: false,
              properties: {
                name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description: "domain and expert name" },
                documents: { type: "array", minItems: 2, items: ref("Document") },
                epochs: { type: "integer", minimum: 1 },
                maxPairs: { type: "integer", minimum: 1 },
                evidenceQueries: { type: "integer", minimum: 1 },
              },
            }),
          },
          responses: {
            "202": { description: `started (bodies up to ${limits.maxDomainBodyBytes} bytes); poll /api/jobs/{id}`, ...json({ type: "object", properties: { job: ref("Job") } }) },
            ...errorResponses([...WRITE_ERRORS, "CONFLICT"]),
          },
        },
      },
      "/api/jobs": {
        get: { summary: "Recent jobs, newest first", responses: { "200": { description: "jobs", ...json({ type: "object", properties: { jobs: { type: "array", items: ref("Job") } } }) } } },
      },
      "/api/jobs/{id}": {
        get: {
          summary: "A job's stage, progress (items/s, ETA), messages, and its result or error",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "the job", ...json({ type: "object", properties: { job: ref("Job") } }) }, ...errorResponses(["NOT_FOUND"]) },
        },
      },
      "/api/health": {
        get: { summary: "Liveness, counts, batching statistics", responses: { "200": { description: "ok", ...json({ type: "object" }) } } },
      },
      "/api/openapi.json": {
        get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1", ...json({ type: "object" }) } } },
      },
    },
  };
}
