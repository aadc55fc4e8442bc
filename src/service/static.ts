/**
 * The web page: three fixed files from src/service/static (no build step), served from memory.
 * Only these names are served, so no request path ever reaches the filesystem.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { projectRoot } from "../util/paths.js";
import { BASE_HEADERS } from "./http.js";

const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

/** Same-origin scripts and styles only: no inline code, so an injected string cannot run. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** src/service/static, also when running from dist/ (the sources ship in the package). */
export const STATIC_DIR = join(projectRoot, "src", "service", "static");

export class StaticFiles {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly dir: string = STATIC_DIR) {}

  has(path: string): boolean {
    return path in FILES;
  }

  serve(path: string, res: ServerResponse, head: boolean): void {
    const f = FILES[path]!;
    let body = this.cache.get(f.file);
    if (!body) {
      body = readFileSync(join(this.dir, f.file));
      this.cache.set(f.file, body);
    }
    res.writeHead(200, { ...BASE_HEADERS, "content-type": f.type, "content-length": body.byteLength, "content-security-policy": CSP, "cache-control": "no-cache" });
    res.end(head ? undefined : body);
  }
}
