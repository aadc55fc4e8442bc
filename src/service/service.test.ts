import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetriever } from "../engine/router-retriever.js";
import { FIXTURE_DOCS, FIXTURE_RULE, makeFixture, type Fixture } from "../../test/support/engine.js";
import { RouterRetrieverError } from "../errors.js";
import { checkServiceOptions, startService, type RunningService } from "./server.js";

const TOKEN = "test-token-0123456789abcdef";
let fx: Fixture;
let rr: RouterRetriever;
let svc: RunningService;

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

async function call(method: string, path: string, body?: unknown, opts: { token?: string; raw?: string; type?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (body !== undefined || opts.raw !== undefined) headers["content-type"] = opts.type ?? "application/json";
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(svc.url + path, { method, headers, body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Every error must be {error: {code, message}} with the expected status and code. */
function expectError(r: Reply, status: number, code: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error.code).toBe(code);
  expect(typeof r.body.error.message).toBe("string");
  expect(r.body.error.message.length).toBeGreaterThan(0);
}

beforeAll(async () => {
  fx = await makeFixture();
  rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, rule: FIXTURE_RULE, pilotDomains: fx.pilotDomains, onWarning: () => {} });
  await rr.addDocuments(FIXTURE_DOCS);
  svc = await startService(rr, { port: 0, token: TOKEN, log: () => {}, batching: { maxWaitMs: 20, maxBatch: 32 } });
});

afterAll(async () => {
  await svc?.close();
  await rr?.close();
  fx?.cleanup();
});

describe("read API", () => {
  it("binds loopback on an ephemeral port", () => {
    expect(svc.host).toBe("127.0.0.1");
    expect(svc.port).toBeGreaterThan(0);
  });

  it("searches: chosen expert, every candidate's score, hits with title and snippet", async () => {
    const r = await call("POST", "/api/search", { query: "BRCA1 mutation and breast cancer risk", k: 3 });
    expect(r.status).toBe(200);
    expect(r.body.expert).toBe("scifact");
    expect(Object.keys(r.body.scores).sort()).toEqual(["base", "code", "scifact"]);
    expect(r.body.hits).toHaveLength(3);
    expect(r.body.hits[0]).toMatchObject({ id: "sci-2", title: "BRCA1 and breast cancer" });
    expect(r.body.hits[0].snippet).toContain("BRCA1");
    expect(r.body.k).toBe(3);
    expect(typeof r.body.tookMs).toBe("number");
  });

  it("defaults k to 10 (capped by the corpus size)", async () => {
    const r = await call("POST", "/api/search", { query: "flights" });
    expect(r.body.hits).toHaveLength(10);
  });

  it("micro-batches concurrent searches and gives each the same answer as alone", async () => {
    const queries = ["python load json file", "mitochondria ATP", "cheap flights", "panel flutter", "reverse a linked list", "vitamin D", "bake bread", "BRCA1"];
    const alone: Reply["body"][] = [];
    for (const q of queries) alone.push((await call("POST", "/api/search", { query: q, k: 4 })).body);
    const before = (await call("GET", "/api/health")).body.service.batching;
    const together = await Promise.all(queries.flatMap((q) => [call("POST", "/api/search", { query: q, k: 4 }), call("POST", "/api/search", { query: q, k: 2 })]));
    const after = (await call("GET", "/api/health")).body.service.batching;
    expect(after.queries - before.queries).toBe(2 * queries.length);
    expect(after.batches - before.batches).toBeLessThan(2 * queries.length);
    expect(after.largestBatch).toBeGreaterThan(1);
    queries.forEach((q, i) => {
      const [k4, k2] = [together[2 * i]!.body, together[2 * i + 1]!.body];
      expect(k4.expert, q).toBe(alone[i].expert);
      expect(k4.hits.map((h: { id: string }) => h.id)).toEqual(alone[i].hits.map((h: { id: string }) => h.id));
      expect(k2.hits.map((h: { id: string }) => h.id)).toEqual(alone[i].hits.slice(0, 2).map((h: { id: string }) => h.id));
      k4.hits.forEach((h: { score: number }, j: number) => expect(h.score).toBeCloseTo(alone[i].hits[j].score, 5));
    });
  });

  it("lists experts and serves health, the OpenAPI description and the page", async () => {
    const ex = await call("GET", "/api/experts");
    expect(ex.body.experts.map((e: { name: string }) => e.name)).toEqual(["code", "gamma", "scifact"]);
    const h = await call("GET", "/api/health");
    expect(h.body).toMatchObject({ status: "ok", documents: FIXTURE_DOCS.length, service: { writes: true } });
    const api = await call("GET", "/api/openapi.json");
    expect(api.body.openapi).toBe("3.1.0");
    expect(Object.keys(api.body.paths)).toEqual(expect.arrayContaining(["/api/search", "/api/experts", "/api/experts/{name}", "/api/documents", "/api/health"]));
    const page = await fetch(svc.url + "/");
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await page.text()).toContain('id="search-form"');
    expect((await fetch(svc.url + "/app.js")).status).toBe(200);
  });
});

describe("input limits and errors", () => {
  it("rejects bad k with 400", async () => {
    for (const k of [0, -1, 101, 2.5, "3", null, 1e9]) expectError(await call("POST", "/api/search", { query: "x", k }), 400, "BAD_INPUT");
  });

  it("rejects missing, empty, over-long queries and unknown fields with 400", async () => {
    expectError(await call("POST", "/api/search", {}), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/search", { query: "   " }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/search", { query: 42 }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/search", { query: "x".repeat(4097) }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/search", { query: "x", kk: 3 }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/search", [1, 2]), 400, "BAD_INPUT");
  });

  it("rejects invalid JSON (400), a non-JSON content type (415), a too-large body (413)", async () => {
    expectError(await call("POST", "/api/search", undefined, { raw: "{nope" }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/search", undefined, { raw: "query=x", type: "application/x-www-form-urlencoded" }), 415, "UNSUPPORTED_MEDIA_TYPE");
    expectError(await call("POST", "/api/search", { query: "x".repeat(2 << 20) }), 413, "PAYLOAD_TOO_LARGE");
    // The connection stays usable after an oversized body.
    expect((await call("POST", "/api/search", { query: "flights", k: 1 })).status).toBe(200);
  });

  it("answers unknown paths 404 and wrong methods 405, as JSON", async () => {
    expectError(await call("GET", "/api/nope"), 404, "NOT_FOUND");
    expectError(await call("GET", "/nope.html"), 404, "NOT_FOUND");
    const r = await call("GET", "/api/search");
    expectError(r, 405, "METHOD_NOT_ALLOWED");
    expect(r.headers.get("allow")).toBe("POST");
    expectError(await call("PUT", "/api/experts"), 405, "METHOD_NOT_ALLOWED");
  });

  it("refuses a Host header that is not loopback (DNS rebinding)", async () => {
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(svc.url + "/api/health", { headers: { host: "evil.example:80" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(403);
  });
});

describe("write API security", () => {
  it("needs the token: none or wrong -> 401", async () => {
    expectError(await call("POST", "/api/experts", { name: "gamma" }), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/experts", { name: "gamma" }, { token: "wrong-token-0123456789" }), 401, "UNAUTHORIZED");
    expectError(await call("DELETE", "/api/experts/code"), 401, "UNAUTHORIZED");
    expectError(await call("POST", "/api/documents", { documents: [{ id: "z", text: "z" }] }), 401, "UNAUTHORIZED");
    expect((await call("GET", "/api/experts")).body.experts.find((e: { name: string }) => e.name === "code").active).toBe(true);
  });

  it("rejects path traversal and absolute paths in expert names with 400", async () => {
    for (const name of ["../experts", "..", "/etc/passwd", "a/b", "..\\x", ".hidden", "scifact/../../x"]) {
      expectError(await call("POST", "/api/experts", { name }, { token: TOKEN }), 400, "BAD_INPUT");
    }
    expectError(await call("DELETE", "/api/experts/%2e%2e%2fstore", undefined, { token: TOKEN }), 400, "BAD_INPUT");
    expectError(await call("DELETE", "/api/experts/%2Fetc", undefined, { token: TOKEN }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/experts", { name: 7 }, { token: TOKEN }), 400, "BAD_INPUT");
  });

  it("removes and re-adds experts; 404 for unknown, 409 for already active", async () => {
    expectError(await call("POST", "/api/experts", { name: "nosuch" }, { token: TOKEN }), 404, "NOT_FOUND");
    expectError(await call("POST", "/api/experts", { name: "code" }, { token: TOKEN }), 409, "CONFLICT");
    const del = await call("DELETE", "/api/experts/code", undefined, { token: TOKEN });
    expect(del.status).toBe(200);
    expect(del.body.active).toEqual(["gamma", "scifact"]);
    expectError(await call("DELETE", "/api/experts/code", undefined, { token: TOKEN }), 404, "NOT_FOUND");
    const r = await call("POST", "/api/search", { query: "python load json file", k: 1 });
    expect(r.body.expert).not.toBe("code");
    expect(Object.keys(r.body.scores)).not.toContain("code");
    const add = await call("POST", "/api/experts", { name: "code" }, { token: TOKEN });
    expect(add.status).toBe(201);
    expect(add.body.expert).toMatchObject({ name: "code", active: true, routable: true });
    expect((await call("POST", "/api/search", { query: "python load json file", k: 1 })).body.expert).toBe("code");
  });

  it("adds documents (201), then finds them; duplicates 409, too many 413, bad fields 400", async () => {
    const doc = { id: "new-doc", title: "Wind tunnel calibration", text: "Calibrating the test section of a low speed wind tunnel with a pitot rake." };
    const r = await call("POST", "/api/documents", { documents: [doc] }, { token: TOKEN });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ added: 1, total: FIXTURE_DOCS.length + 1 });
    expect((await call("POST", "/api/search", { query: "wind tunnel calibration pitot", k: 1 })).body.hits[0].id).toBe("new-doc");
    expectError(await call("POST", "/api/documents", { documents: [doc] }, { token: TOKEN }), 409, "CONFLICT");
    const many = Array.from({ length: 257 }, (_, i) => ({ id: `m${i}`, text: "t" }));
    expectError(await call("POST", "/api/documents", { documents: many }, { token: TOKEN }), 413, "LIMIT_EXCEEDED");
    expectError(await call("POST", "/api/documents", { documents: [{ id: "", text: "t" }] }, { token: TOKEN }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/documents", { documents: [{ id: "q", text: 5 }] }, { token: TOKEN }), 400, "BAD_INPUT");
    expectError(await call("POST", "/api/documents", { documents: "nope" }, { token: TOKEN }), 400, "BAD_INPUT");
    expect((await call("GET", "/api/health")).body.documents).toBe(FIXTURE_DOCS.length + 1);
  });
});

describe("start-up policy", () => {
  const refuses = (o: Parameters<typeof checkServiceOptions>[0]): string | undefined => {
    try {
      checkServiceOptions(o);
      return undefined;
    } catch (err) {
      return (err as RouterRetrieverError).code;
    }
  };

  it("refuses a non-loopback host with writes enabled and no token", () => {
    expect(refuses({ host: "0.0.0.0" })).toBe("BAD_INPUT");
    expect(refuses({ host: "192.168.1.10" })).toBe("BAD_INPUT");
    expect(refuses({ host: "0.0.0.0", readOnly: true })).toBeUndefined();
    expect(refuses({ host: "0.0.0.0", token: TOKEN })).toBeUndefined();
    expect(refuses({ host: "127.0.0.1" })).toBeUndefined();
    expect(refuses({ host: "::1" })).toBeUndefined();
    expect(refuses({ token: "short" })).toBe("BAD_INPUT");
  });

  it("without a token, write endpoints answer 403 and reads work", async () => {
    const ro = await startService(rr, { port: 0, log: () => {} });
    try {
      const res = await fetch(ro.url + "/api/experts", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "gamma" }) });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
      expect((await fetch(ro.url + "/api/experts")).status).toBe(200);
    } finally {
      await ro.close();
    }
  });
});
