/**
 * A full disk (ENOSPC) during document adds (issue 12): the service answers 507 STORAGE_FULL with
 * the reason, keeps serving searches, logs the path it could not write, and the store on disk
 * holds exactly the acknowledged documents afterwards.
 *
 * The disk is real: a 512 KiB tmpfs mounted in a private mount namespace (`unshare -rm`, no root
 * needed where unprivileged user namespaces are allowed). Where they are not, the test is skipped
 * with that reason.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("../../test/support/disk-full-child.ts", import.meta.url));
const TOKEN = "disk-full-token-0123456789";
const root = mkdtempSync(join(tmpdir(), "rr-enospc-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const MOUNT = ["-rm", "sh", "-c", 'mount -t tmpfs -o size=512k tmpfs "$0" && exec "$@"'];
const probe = spawnSync("unshare", [...MOUNT, root, "true"], { encoding: "utf8" });
const canMount = probe.status === 0;
if (!canMount) console.warn(`disk-full test skipped: cannot mount a small tmpfs in a user namespace here (unshare: ${(probe.stderr || String(probe.error)).trim().slice(0, 200)})`);

function lineFrom(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (c: Buffer): void => {
      buf += c.toString("utf8");
      const line = buf.split("\n").find((l) => l.startsWith(prefix));
      if (line !== undefined) {
        child.stdout!.off("data", onData);
        resolve(line.slice(prefix.length));
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`child exited (${code}) before "${prefix}"`)));
  });
}

describe.skipIf(!canMount)("a full disk", () => {
  it("answers 507 with the reason, keeps serving, and the store holds exactly what was acknowledged", async () => {
    const child = spawn("unshare", [...MOUNT, root, process.execPath, "--import", "tsx", CHILD, root, TOKEN], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    try {
      const url = await lineFrom(child, "listening ");
      const post = (path: string, body: unknown): Promise<Response> =>
        fetch(url + path, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });
      const acknowledged: string[] = [];
      let refused: { status: number; body: { error: { code: string; message: string } } } | undefined;
      for (let i = 0; i < 400 && !refused; i++) {
        const docs = Array.from({ length: 16 }, (_, j) => ({ id: `d${i}-${j}`, title: `Note ${i}.${j}`, text: `Entry ${i}.${j}: ` + "wings, proteins and lists. ".repeat(40) }));
        const r = await post("/api/documents", { documents: docs });
        if (r.status === 201) acknowledged.push(...docs.map((d) => d.id));
        else refused = { status: r.status, body: (await r.json()) as { error: { code: string; message: string } } };
      }
      expect(refused, "the disk never filled").toBeDefined();
      expect(refused!.status).toBe(507);
      expect(refused!.body.error.code).toBe("STORAGE_FULL");
      expect(refused!.body.error.message).toMatch(/disk is full/);
      expect(acknowledged.length).toBeGreaterThan(0);
      // Still serving, and the operator's log says which file could not be written.
      const s = await post("/api/search", { query: "wings and proteins", k: 3 });
      expect(s.status).toBe(200);
      expect(stderr).toMatch(/refused POST \/api\/documents: .*no space left on the device/);
      expect(stderr).not.toMatch(/^error /m);
      child.stdin!.write("reopen\n");
      const after = JSON.parse(await lineFrom(child, "reopened ")) as { count: number; ids: string[] };
      expect(after.ids.sort()).toEqual([...acknowledged].sort());
      expect(after.count).toBe(acknowledged.length);
    } finally {
      child.kill("SIGKILL");
    }
  }, 600_000);
});
