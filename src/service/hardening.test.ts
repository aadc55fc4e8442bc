/**
 * The HTTP surface against hostile and unlucky clients (issue 12): damaged expert folders added
 * over HTTP answer 422 naming the file and the tensor; unknown body fields are 400; a query of
 * only invisible characters is 400; a client that hangs up mid-body is not an internal error;
 * header and body timeouts are enforced within about a second of their limit, not 30 s later.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouterRetriever } from "../engine/router-retriever.js";
import { RouterRetrieverError } from "../errors.js";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, MAX_ADAPTER_WEIGHTS_BYTES } from "../experts/peft.js";
import { ROUTING_EVIDENCE_FILE, saveRoutingEvidence } from "../routing/evidence.js";
import { BASE } from "../routing/types.js";
import { FIXTURE_DOCS, makeFixture, type Fixture } from "../../test/support/engine.js";
import { startService, type RunningService } from "./server.js";

const TOKEN = "test-token-0123456789abcdef";
let fx: Fixture;
let rr: RouterRetriever;
let svc: RunningService;
/** A second server on the same engine with tight timeouts, used only by the raw-socket timeout tests. */
let tight: RunningService;
const log: string[] = [];

interface Reply {
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

async function call(method: string, path: string, body?: unknown, token: string | undefined = TOKEN): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(svc.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

beforeAll(async () => {
  fx = await makeFixture();
  rr = await RouterRetriever.open({ store: fx.storeDir, expertsDir: fx.expertsDir, pilotsPath: fx.pilotsPath, onWarning: () => {} });
  await rr.addDocuments(FIXTURE_DOCS);
  // Ordinary timeouts here: on a loaded machine an 800 ms request limit could cut off a legitimate
  // request (a blocked event loop between its headers and its body), making the expert cases flaky.
  svc = await startService(rr, { port: 0, token: TOKEN, log: (l) => log.push(l) });
  tight = await startService(rr, { port: 0, token: TOKEN, log: (l) => log.push(l), timeouts: { headersMs: 400, requestMs: 800 } });
}, 300_000);

afterAll(async () => {
  await tight?.close();
  await svc?.close();
  await rr?.close();
  fx?.cleanup();
});

/** The fixture's scifact adapter, rewritten with `edit` applied to its safetensors header and data. */
function damagedCopy(name: string, edit: (header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>, data: Buffer) => { header: unknown; data: Buffer }): string {
  const dir = join(fx.expertsDir, name);
  cpSync(join(fx.expertsDir, "scifact"), dir, { recursive: true });
  const raw = readFileSync(join(dir, ADAPTER_WEIGHTS_FILE));
  const n = Number(raw.readBigUInt64LE(0));
  const header = JSON.parse(raw.subarray(8, 8 + n).toString("utf8")) as Parameters<typeof edit>[0];
  const out = edit(header, Buffer.from(raw.subarray(8 + n)));
  const h = Buffer.from(JSON.stringify(out.header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(join(dir, ADAPTER_WEIGHTS_FILE), Buffer.concat([len, h, out.data]));
  return dir;
}

const tensorNames = (h: Record<string, unknown>): string[] => Object.keys(h).filter((k) => k !== "__metadata__").sort((a, b) => (h[a] as { data_offsets: number[] }).data_offsets[0]! - (h[b] as { data_offsets: number[] }).data_offsets[0]!);

describe("a damaged expert folder added over HTTP", () => {
  // Each damage the issue lists, with the tensor the message must name (undefined: the file as a whole).
  const CASES: Array<{ name: string; file?: string; names?: string; tensor?: (h: Record<string, unknown>) => string | string[]; make: () => void }> = [
    { name: "null-header", make: () => void damagedCopy("null-header", (_h, d) => ({ header: null, data: d })) },
    ...(["shape", "data_offsets", "dtype"] as const).map((field) => ({
      name: `no-${field}`,
      tensor: (h: Record<string, unknown>) => tensorNames(h)[1]!,
      make: () =>
        void damagedCopy(`no-${field}`, (h, d) => {
          delete (h[tensorNames(h)[1]!] as Record<string, unknown>)[field];
          return { header: h, data: d };
        }),
    })),
    {
      name: "odd-byte-length",
      tensor: (h) => tensorNames(h)[0]!,
      make: () =>
        void damagedCopy("odd-byte-length", (h, d) => {
          // 3 bytes short of a float: every later offset shifts too, so fix them up.
          const names = tensorNames(h);
          h[names[0]!]!.data_offsets[1] -= 3;
          for (const k of names.slice(1)) h[k]!.data_offsets = [h[k]!.data_offsets[0] - 3, h[k]!.data_offsets[1] - 3];
          return { header: h, data: Buffer.concat([d.subarray(0, h[names[0]!]!.data_offsets[1]), d.subarray(h[names[0]!]!.data_offsets[1] + 3)]) };
        }),
    },
    {
      name: "negative-offsets",
      tensor: (h) => tensorNames(h)[2]!,
      make: () =>
        void damagedCopy("negative-offsets", (h, d) => {
          const k = tensorNames(h)[2]!;
          h[k]!.data_offsets = [-h[k]!.data_offsets[1], h[k]!.data_offsets[0]];
          return { header: h, data: d };
        }),
    },
    {
      name: "overlapping-offsets",
      // Whichever of the two comes first in offset order reads as "overlapping" the other.
      tensor: (h) => tensorNames(h).slice(0, 2),
      make: () =>
        void damagedCopy("overlapping-offsets", (h, d) => {
          // Tensor 1 reads tensor 0's bytes; its own bytes stay as an unread gap at the end.
          const names = tensorNames(h);
          const [s0] = h[names[0]!]!.data_offsets;
          const [s1, e1] = h[names[1]!]!.data_offsets;
          h[names[1]!]!.data_offsets = [s0, s0 + (e1 - s1)];
          return { header: h, data: d };
        }),
    },
    {
      name: "non-finite",
      tensor: (h) => tensorNames(h)[3]!,
      make: () =>
        void damagedCopy("non-finite", (h, d) => {
          d.writeFloatLE(Number.NaN, h[tensorNames(h)[3]!]!.data_offsets[0] + 4 * 5);
          return { header: h, data: d };
        }),
    },
    {
      name: "weights-dir",
      make: () => {
        const dir = join(fx.expertsDir, "weights-dir");
        cpSync(join(fx.expertsDir, "scifact"), dir, { recursive: true });
        rmSync(join(dir, ADAPTER_WEIGHTS_FILE));
        mkdirSync(join(dir, ADAPTER_WEIGHTS_FILE));
      },
    },
    {
      // A sparse file: over the limit without using the disk, and refused before any of it is read.
      name: "oversized-weights",
      make: () => {
        const dir = join(fx.expertsDir, "oversized-weights");
        cpSync(join(fx.expertsDir, "scifact"), dir, { recursive: true });
        truncateSync(join(dir, ADAPTER_WEIGHTS_FILE), MAX_ADAPTER_WEIGHTS_BYTES + 1);
      },
    },
    {
      // Routing evidence whose pilot vector holds a NaN: it would route every query to base.
      name: "nan-pilot",
      file: ROUTING_EVIDENCE_FILE,
      names: "items[0].vector",
      make: () => {
        const dir = join(fx.expertsDir, "nan-pilot");
        cpSync(join(fx.expertsDir, "scifact"), dir, { recursive: true });
        const d = fx.model.spec.config.hiddenSize;
        const path = join(dir, ROUTING_EVIDENCE_FILE);
        saveRoutingEvidence(path, {
          baseModelId: fx.model.spec.id,
          dims: d,
          expert: "nan-pilot",
          domain: "nan",
          candidates: [BASE, "nan-pilot"],
          querySource: "pseudo",
          documentIds: ["sci-1"],
          ignoreIdenticalIds: false,
          allZero: "skip",
          items: [{ queryId: "p1", text: "vitamin D", docIds: ["sci-1"], scores: { [BASE]: 0.4, "nan-pilot": 1 }, vector: new Float32Array(d).fill(0.05) }],
        });
        const j = JSON.parse(readFileSync(path, "utf8")) as { items: Array<{ vector: string }> };
        const v = Buffer.from(j.items[0]!.vector, "base64");
        v.writeFloatLE(Number.NaN, 4);
        j.items[0]!.vector = v.toString("base64");
        writeFileSync(path, JSON.stringify(j));
      },
    },
    {
      name: "config-symlink-out",
      make: () => {
        const dir = join(fx.expertsDir, "config-symlink-out");
        cpSync(join(fx.expertsDir, "scifact"), dir, { recursive: true });
        const secret = join(fx.root, "secret.json");
        writeFileSync(secret, JSON.stringify({ r: 8, secret: "do-not-echo-this" }));
        rmSync(join(dir, ADAPTER_CONFIG_FILE));
        symlinkSync(secret, join(dir, ADAPTER_CONFIG_FILE));
      },
    },
  ];

  for (const c of CASES) {
    it(`${c.name}: 422 naming the file${c.tensor ? " and the tensor" : ""}; nothing changes`, async () => {
      c.make();
      const before = (await call("POST", "/api/search", { query: "BRCA1 mutation cancer risk", k: 3 })).body;
      const r = await call("POST", "/api/experts", { name: c.name });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      const msg = r.body.error!.message;
      const file = c.file ?? (c.name === "config-symlink-out" ? ADAPTER_CONFIG_FILE : ADAPTER_WEIGHTS_FILE);
      expect(msg).toContain(join(c.name, file));
      if (c.names) expect(msg).toContain(c.names);
      if (c.tensor) {
        const raw = readFileSync(join(fx.expertsDir, "scifact", ADAPTER_WEIGHTS_FILE));
        const header = JSON.parse(raw.subarray(8, 8 + Number(raw.readBigUInt64LE(0))).toString("utf8")) as Record<string, unknown>;
        const want = [c.tensor(header)].flat();
        expect(want.some((t) => msg.includes(JSON.stringify(t))), `${msg} should name ${want.join(" or ")}`).toBe(true);
      }
      expect(msg).not.toContain("do-not-echo-this");
      const experts = (await call("GET", "/api/experts")).body.experts as Array<{ name: string; active: boolean; error?: string }>;
      expect(experts.find((e) => e.name === c.name)?.active ?? false).toBe(false);
      const after = (await call("POST", "/api/search", { query: "BRCA1 mutation cancer risk", k: 3 })).body;
      expect({ ...after, tookMs: 0 }).toEqual({ ...before, tookMs: 0 });
      const health = await call("GET", "/api/health");
      expect(health.status).toBe(200);
      expect(JSON.stringify(health.body)).not.toContain("do-not-echo-this");
    });
  }
});

describe("request bodies", () => {
  it("unknown fields on the experts and documents endpoints are 400, naming the field; nothing is added", async () => {
    const count = (await rr.countDocuments());
    const cases: Array<[string, unknown, string]> = [
      ["/api/experts", { name: "gamma", force: true }, '"force"'],
      ["/api/documents", { documents: [{ id: "u1", text: "x" }], upsert: true }, '"upsert"'],
      ["/api/documents", { documents: [{ id: "u2", text: "x", txet: "typo" }] }, 'documents[0]: unknown field "txet"'],
      ["/api/search", { query: "x", limit: 3 }, '"limit"'],
    ];
    for (const [path, body, names] of cases) {
      const r = await call("POST", path, body);
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error!.code).toBe("BAD_INPUT");
      expect(r.body.error!.message).toContain(names);
    }
    expect((await rr.countDocuments())).toBe(count);
    expect(rr.listExperts().find((e) => e.name === "gamma")?.active).toBe(true);
  });

  it("a query of only invisible characters is 400 (HTTP and library)", async () => {
    for (const q of ["\u200b", "\ufeff\u200b\u200d", "\u00ad", " \u2060\t", "\u2800", "\u3164", "\u0301\u0301", "\u202e\u202c"]) {
      const r = await call("POST", "/api/search", { query: q });
      expect(r.status, JSON.stringify(q)).toBe(400);
      expect(r.body.error!.message).toContain("visible");
      await expect(rr.search(q)).rejects.toThrow(RouterRetrieverError);
    }
    // A real query with such characters around it still works.
    expect((await call("POST", "/api/search", { query: "\u200bBRCA1\u00ad mutation" })).status).toBe(200);
  });
});

/** A raw TCP client of the tight-timeout server: resolves with what it sent once it closes the connection. */
function rawRequest(send: (s: Socket) => void): Promise<{ data: string; ms: number }> {
  const { port } = tight;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect(port, "127.0.0.1", () => send(s));
    let data = "";
    s.on("data", (c) => (data += c.toString("latin1")));
    s.on("error", reject);
    s.on("close", () => resolve({ data, ms: performance.now() - t0 }));
  });
}

describe("slow and vanishing clients", () => {
  it("a client that hangs up mid-body is not logged as an internal error", async () => {
    const before = log.length;
    await rawRequest((s) => {
      s.write(`POST /api/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"documents": [`);
      setTimeout(() => s.destroy(), 100);
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(log.slice(before).filter((l) => l.startsWith("error"))).toEqual([]);
    expect((await call("GET", "/api/health")).status).toBe(200);
  });

  it("headers not finished within the header timeout: 408 and closed within about a second, not 30 s", async () => {
    const r = await rawRequest((s) => s.write("POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    expect(r.data).toMatch(/^HTTP\/1\.1 408/);
    // Limit 400 ms, checked every 100 ms; Node's default check would take up to 30 s.
    expect(r.ms).toBeLessThan(10_000);
  });

  it("a body trickling past the request timeout: 408 and closed", async () => {
    const r = await rawRequest((s) => {
      s.write("POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
      const tick = setInterval(() => (s.writable ? s.write(" ") : clearInterval(tick)), 150);
      s.on("close", () => clearInterval(tick));
    });
    expect(r.data).toMatch(/^HTTP\/1\.1 408/);
    expect(r.ms).toBeLessThan(10_000);
    expect(log.filter((l) => l.startsWith("error"))).toEqual([]);
  });
});
