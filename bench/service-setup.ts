/**
 * Shared by the service benchmark and the screenshot script: a store over the committed demo
 * corpus with synthetic experts and pilots (test/support/engine.ts writeSyntheticRouting: random
 * LoRA experts for scifact, arguana and cosqa, cranfield served by the base model), served by
 * the real CLI (`routerretriever serve`) in a child process on a loopback ephemeral port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeSyntheticRouting } from "../test/support/engine.js";
import { loadModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { projectRoot } from "../src/util/paths.js";

export interface DemoQuery {
  readonly id: string;
  readonly domain: string;
  readonly text: string;
}

export const DEMO_EXPERTS: Readonly<Record<string, string | undefined>> = { scifact: "scifact", arguana: "arguana", cosqa: "cosqa", cranfield: undefined };

export function demoQueries(): DemoQuery[] {
  return readFileSync(join(projectRoot, "demo", "queries.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as DemoQuery);
}

/** Writes experts + pilots into `dir`; the store itself is built by the server from the corpus. */
export async function prepareDemoRouting(dir: string): Promise<{ expertsDir: string; pilotsPath: string; storeDir: string; corpusPath: string }> {
  const queries = demoQueries();
  const domains = Object.entries(DEMO_EXPERTS).map(([name, expert]) => ({ name, expert, queries: queries.filter((q) => q.domain === name) }));
  const { expertsDir, pilotsPath } = await writeSyntheticRouting(loadModel(defaultModelSpec()), dir, domains);
  return { expertsDir, pilotsPath, storeDir: join(dir, "store"), corpusPath: join(projectRoot, "demo", "corpus.jsonl") };
}

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `routerretriever serve <args>` and resolves with its URL once it listens. */
export function spawnServer(args: readonly string[], onLog: (line: string) => void = () => {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [join(projectRoot, "bin", "routerretriever.js"), "serve", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString("utf8");
      let nl: number;
      while ((nl = buf.search(/[\r\n]/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onLog(line);
        const m = /^listening on (http:\/\/\S+)/.exec(line);
        if (m) {
          resolve({
            url: m[1]!,
            child,
            stop: () =>
              new Promise<void>((done) => {
                if (child.exitCode !== null) return done();
                child.once("exit", () => done());
                child.kill("SIGTERM");
              }),
          });
        }
      }
    };
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`server exited with code ${code} before listening`)));
  });
}
