/**
 * A real PostgreSQL engine for tests and benchmarks: PGlite (PostgreSQL compiled to
 * WebAssembly) with the pgvector extension, served over the PostgreSQL wire protocol by
 * pglite-socket, so the code under test connects with the ordinary `pg` driver exactly as it
 * would to a server. In memory unless `dataDir` is given.
 *
 * As a script (prints the URL, serves until killed):
 *   node --import tsx test/support/pglite-server.ts [port]
 */
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { createServer } from "node:net";
import { pathToFileURL } from "node:url";

export interface PgliteServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly db: PGlite;
  stop(): Promise<void>;
}

export async function startPgliteServer(opts: { port?: number; dataDir?: string; maxConnections?: number } = {}): Promise<PgliteServer> {
  const db = await PGlite.create({ ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), extensions: { vector } });
  const port = opts.port ?? (await freePort());
  const server = new PGLiteSocketServer({ db, port, host: "127.0.0.1", maxConnections: opts.maxConnections ?? 32 });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    db,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const srv = await startPgliteServer({ port: process.argv[2] ? Number(process.argv[2]) : undefined });
  process.stdout.write(`${srv.url}\n`);
  const stop = (): void => void srv.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
