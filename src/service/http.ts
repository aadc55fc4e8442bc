/** Small node:http helpers: bounded JSON bodies, JSON replies, security headers. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./errors.js";

/** Headers every response carries: no MIME sniffing, no framing, no referrer leaks. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body), "utf8");
  res.writeHead(status, { ...BASE_HEADERS, "content-type": "application/json; charset=utf-8", "content-length": data.byteLength, "cache-control": "no-store" });
  res.end(data);
}

export function sendError(res: ServerResponse, err: HttpError, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
  sendJson(res, err.status, { error: { code: err.code, message: err.message } });
}

/** Past this many bytes an oversized body is not even drained: the connection is dropped. */
const DRAIN_CAP = 64 * 1024 * 1024;

/**
 * Reads a JSON request body of at most `limit` bytes. Bytes past the limit are read and thrown
 * away (so memory stays bounded by `limit`) and the reply is 413 once the client has finished
 * sending: answering mid-upload and closing would make many clients see a reset instead of
 * the 413. A body larger than DRAIN_CAP gets the connection dropped.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  // Requiring application/json also means a cross-site page cannot POST here without a CORS
  // preflight, which this server never approves.
  if (type !== "application/json") throw new HttpError("UNSUPPORTED_MEDIA_TYPE", `Content-Type must be application/json, got ${JSON.stringify(type || "(none)")}`);
  const text = (await readBody(req, limit)).toString("utf8");
  if (text.trim() === "") throw new HttpError("BAD_INPUT", "request body is empty; expected a JSON object");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError("BAD_INPUT", `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The client went away before its request was read (closed the connection mid-body, or was cut
 * off by the request timeout): nobody is left to answer, and nothing went wrong on our side.
 */
export class ClientGoneError extends Error {
  constructor() {
    super("the client closed the connection before sending the whole request");
    this.name = "ClientGoneError";
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let ended = false;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= limit) chunks.push(chunk);
      else {
        chunks.length = 0;
        if (size > DRAIN_CAP) req.destroy();
      }
    });
    req.on("end", () => {
      ended = true;
      if (size > limit) reject(new HttpError("PAYLOAD_TOO_LARGE", `request body of ${size} bytes exceeds the limit of ${limit} bytes`));
      else resolve(Buffer.concat(chunks));
    });
    // Node reports a client that hangs up mid-body as an "aborted" error: not ours to log.
    req.on("error", () => reject(new ClientGoneError()));
    req.on("close", () => {
      if (!ended) reject(new ClientGoneError());
    });
  });
}

/** `v` as a JSON object holding only the `allowed` fields (a misspelt field is an error, not ignored). */
export function asObject(v: unknown, allowed: readonly string[], what = "request body"): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new HttpError("BAD_INPUT", `${what} must be a JSON object`);
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) throw new HttpError("BAD_INPUT", `${what}: unknown field ${JSON.stringify(key.slice(0, 64))} (expected ${allowed.join(", ")})`);
  }
  return v as Record<string, unknown>;
}
