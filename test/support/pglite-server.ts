/**
 * A real PostgreSQL engine for tests and benchmarks: PGlite (PostgreSQL compiled to
 * WebAssembly) with the pgvector extension, served over the PostgreSQL wire protocol by
 * pglite-socket, so the code under test connects with the ordinary `pg` driver exactly as it
 * would to a server. In memory unless `dataDir` is given.
 *
 * The engine runs in a child process, as a server would: PGlite executes each statement
 * synchronously on its thread, so in the test's own process an HNSW build or a bulk insert
 * held the event loop for minutes (vitest's worker RPC then timed out) and ran on the same
 * core as the client it was measured against.
 *
 * As a script (prints the URL once listening, serves until SIGTERM/SIGINT):
 *   node --import tsx test/support/pglite-server.ts [port] [dataDir]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface PgliteServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);
/** Starting takes ~10 s of CPU (initdb in WebAssembly); at a load average of 15 on 2 cores that was over 60 s of wall time. */
const START_TIMEOUT_MS = 300_000;

export async function startPgliteServer(opts: { port?: number; dataDir?: string; maxConnections?: number } = {}): Promise<PgliteServer> {
  const args = ["--import", "tsx", SELF, String(opts.port ?? 0), opts.dataDir ?? "", String(opts.maxConnections ?? 32)];
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString("utf8")).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`PGlite server did not start within ${START_TIMEOUT_MS / 1000} s\n${stderr}`)), START_TIMEOUT_MS);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    child.once("exit", (code, signal) => fail(new Error(`PGlite server exited before listening (code ${code}, signal ${signal})\n${stderr}`)));
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString("utf8");
      const line = out.split("\n")[0]!;
      if (out.includes("\n")) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve(line.trim());
      }
    });
  });
  return { url, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
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

async function serve(port: number, dataDir: string, maxConnections: number): Promise<void> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { vector } = await import("@electric-sql/pglite-pgvector");
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket");
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), extensions: { vector } });
  const p = port || (await freePort());
  const server = new PGLiteSocketServer({ db, port: p, host: "127.0.0.1", maxConnections });
  await server.start();
  process.stdout.write(`postgres://postgres@127.0.0.1:${p}/postgres\n`);
  const stop = (): void =>
    void server
      .stop()
      .then(() => db.close())
      .finally(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // The parent going away (a killed test run) closes this pipe: no orphan engine is left behind.
  // Run by hand from a terminal, stdin stays open until Ctrl-D.
  process.stdin.on("end", stop);
  process.stdin.resume();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await serve(Number(process.argv[2] ?? 0), process.argv[3] ?? "", Number(process.argv[4] ?? 32));
}
