/**
 * Who may write, and from where. Writes (adding documents, adding or removing experts) need
 * `Authorization: Bearer <token>`, compared in constant time. Reads are open, but on a
 * loopback bind only requests whose Host is a loopback name are served: a DNS-rebinding page
 * (evil.example resolving to 127.0.0.1) would otherwise reach the API from a browser.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { IncomingMessage } from "node:http";
import { HttpError } from "./errors.js";

export const MIN_TOKEN_LENGTH = 16;

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1" || h === "::ffff:127.0.0.1";
}

/** Checks a Bearer token against the configured one; throws UNAUTHORIZED (401) otherwise. */
export function requireToken(req: IncomingMessage, token: string): void {
  const header = req.headers.authorization ?? "";
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new HttpError("UNAUTHORIZED", "this endpoint needs an 'Authorization: Bearer <token>' header");
  const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();
  if (!timingSafeEqual(digest(m[1]!), digest(token))) throw new HttpError("UNAUTHORIZED", "wrong token");
}

/** On a loopback bind, the Host header must name a loopback host too (DNS-rebinding guard). */
export function checkHostHeader(req: IncomingMessage, boundToLoopback: boolean): void {
  if (!boundToLoopback) return;
  const host = req.headers.host ?? "";
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
  if (!isLoopbackHost(name)) throw new HttpError("FORBIDDEN", `Host ${JSON.stringify(host)} is not a loopback name; this server is bound to loopback only`);
}
