import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { DOCS_FILE, INDEX_DIR } from "../store/flat/corpus.js";
import { RouterRetriever } from "./router-retriever.js";

const root = mkdtempSync(join(tmpdir(), "rr-durable-"));
const storeDir = join(root, "store");
const expertsDir = join(root, "experts");
mkdirSync(expertsDir);
const CHILD = fileURLToPath(new URL("../../test/support/engine-append-child.ts", import.meta.url));

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the appending child, SIGKILLs it `afterMs` after its first committed add; returns the ids it reported committed. */
function appendThenKill(prefix: string, afterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, storeDir, expertsDir, prefix], { stdio: ["ignore", "pipe", "pipe"] });
    const committed: string[] = [];
    let buf = "";
    let err = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("ok ")) {
          committed.push(...line.slice(3).split(" "));
          timer ??= setTimeout(() => child.kill("SIGKILL"), afterMs);
        }
      }
    });
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.on("exit", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`child exited with ${code ?? signal} before being killed: ${err}`));
      else resolve(committed);
    });
  });
}

describe("durability under kill -9", () => {
  it("keeps every document whose add returned, across several kills mid-append", async () => {
    const all: string[] = [];
    for (const [round, ms] of [[0, 250], [1, 700], [2, 1300]] as const) {
      const committed = await appendThenKill(`r${round}`, ms);
      expect(committed.length).toBeGreaterThan(0);
      all.push(...committed);
      const rr = await RouterRetriever.open({ store: storeDir, expertsDir, onWarning: () => {} });
      try {
        for (const id of all) expect(await rr.hasDocument(id), id).toBe(true);
        // At most the one add in flight at the kill may have landed beyond what was reported.
        expect((await rr.countDocuments()) - all.length).toBeGreaterThanOrEqual(0);
        expect((await rr.countDocuments()) - all.length).toBeLessThanOrEqual(3);
        const last = (await rr.getDocument(all[all.length - 1]!))!;
        // Rounds reuse texts (r0-0-2 and r1-0-2 are the same note), and equal vectors tie, so
        // the top hit is checked by its text: the last committed document must be searchable.
        const top = (await rr.search(last.text, 1)).hits[0]!;
        expect((await rr.getDocument(top.id))!.text).toBe(last.text);
      } finally {
        await rr.close();
      }
    }
  }, 600_000); // three child processes, each loading the model: minutes on a loaded 2-core machine

  it("ignores a torn tail left by a writer killed between writing and committing, and appends after it", async () => {
    let rr = await RouterRetriever.open({ store: storeDir, expertsDir, onWarning: () => {} });
    const before = (await rr.countDocuments());
    await rr.close();
    appendFileSync(join(storeDir, DOCS_FILE), '{"id":"torn","title":"","text":"half a li');
    appendFileSync(join(storeDir, INDEX_DIR, "vectors.f32"), Buffer.alloc(1000, 7));
    rr = await RouterRetriever.open({ store: storeDir, expertsDir, onWarning: () => {} });
    try {
      expect((await rr.countDocuments())).toBe(before);
      expect(await rr.hasDocument("torn")).toBe(false);
      await rr.addDocuments([{ id: "after-tear", title: "", text: "written after the torn tail was cut off" }]);
    } finally {
      await rr.close();
    }
    rr = await RouterRetriever.open({ store: storeDir, expertsDir, onWarning: () => {} });
    try {
      expect((await rr.countDocuments())).toBe(before + 1);
      expect((await rr.getDocument("after-tear"))?.text).toBe("written after the torn tail was cut off");
    } finally {
      await rr.close();
    }
  });
});
