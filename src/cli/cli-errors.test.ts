/**
 * Every CLI command against missing, wrong-type and unreadable paths (issue 12): one line on
 * stderr naming the path, exit code 2, never a stack trace. The cases run through the CLI's
 * main() in one child process (test/support/cli-batch.ts); a few also run as separate
 * processes through the real entry point, where an escaped error would print Node's stack.
 */
import { execFile } from "node:child_process";
import { writeFileSync as write } from "node:fs";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ENTRY = fileURLToPath(new URL("../../test/support/cli-main.ts", import.meta.url));
const BATCH = fileURLToPath(new URL("../../test/support/cli-batch.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "rr-cli-"));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const afile = join(root, "a-file.txt");
writeFileSync(afile, "not a folder\n");
const adir = join(root, "a-dir");
mkdirSync(adir);
const missing = join(root, "no-such-thing");
const experts = join(root, "experts");
mkdirSync(experts);
// A small BEIR folder, for commands that need one valid argument besides the bad one.
const ds = join(root, "ds");
mkdirSync(join(ds, "qrels"), { recursive: true });
writeFileSync(join(ds, "corpus.jsonl"), '{"_id":"d1","title":"","text":"one document"}\n');
writeFileSync(join(ds, "queries.jsonl"), '{"_id":"q1","text":"a query"}\n');
writeFileSync(join(ds, "qrels", "test.tsv"), "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
// A store whose documents lost their store.json: refused before the model loads.
const damagedStore = join(root, "damaged-store");
mkdirSync(damagedStore);
writeFileSync(join(damagedStore, "docs.jsonl"), '{"id":"d1","title":"","text":"x"}\n');
// Unreadable inputs: as root, permissions do not bind, so those cases run as nobody.
const unreadable = join(root, "unreadable");
mkdirSync(unreadable);
const secretFile = join(unreadable, "corpus.jsonl");
writeFileSync(secretFile, '{"_id":"d1","title":"","text":"x"}\n');
chmodSync(secretFile, 0o000);
chmodSync(unreadable, 0o700);
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
if (asRoot) {
  chownSync(unreadable, 0, 0);
  chmodSync(unreadable, 0o711); // nobody may pass through, not read the file
}

interface Run {
  code: number | null;
  stderr: string;
  stdout: string;
}

const spawnOpts = (asNobody: boolean) => ({
  encoding: "utf8" as const,
  timeout: 600_000,
  cwd: REPO,
  env: { ...process.env, ROUTERRETRIEVER_CACHE: join(root, "cache"), ROUTERRETRIEVER_DEBUG: "" },
  ...(asNobody && asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
});

/** Runs node with `args` without blocking the test worker (vitest's RPC needs its event loop). */
function node(args: string[], asNobody: boolean): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, args, { ...spawnOpts(asNobody), maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: child.exitCode ?? (err ? -1 : 0), stdout, stderr });
    });
  });
}

/** One invocation in its own process, through the real entry point. */
function cli(args: string[], opts: { asNobody?: boolean } = {}): Promise<Run> {
  return node(["--import", "tsx", ENTRY, ...args], opts.asNobody ?? false);
}

let batchNo = 0;
/** Many invocations in one process. */
async function cliBatch(cases: string[][], opts: { asNobody?: boolean } = {}): Promise<Run[]> {
  const file = join(root, `batch-${++batchNo}.json`);
  write(file, JSON.stringify(cases));
  chmodSync(file, 0o644);
  const r = await node(["--import", "tsx", BATCH, file], opts.asNobody ?? false);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as Array<{ code: number; stderr: string }>).map((x) => ({ code: x.code, stderr: x.stderr, stdout: "" }));
}

/** One clear line, exit 2, naming `path`; no stack. */
function expectOneLine(r: Run, path: string): void {
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  expect(r.stderr, "no stack trace").not.toMatch(/^\s+at /m);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^routerretriever: [A-Z_]+: /);
  expect(lines[0]).toContain(path);
  expect(r.code, r.stderr).toBe(2);
}

describe("CLI: bad paths are one line and exit code 2", () => {
  const CASES: Array<[string, string[], string]> = [
    ["index: corpus folder missing", ["index", missing, "--out", join(root, "out-1"), "--quiet"], missing],
    ["index: corpus 'folder' is a file", ["index", afile, "--out", join(root, "out-2"), "--quiet"], afile],
    ["index: --out is a file", ["index", ds, "--out", afile, "--quiet"], afile],
    ["search: index folder missing", ["search", missing, "a query"], missing],
    ["search: index 'folder' is a file", ["search", afile, "a query"], afile],
    ["eval: dataset missing", ["eval", missing, "--quiet"], missing],
    ["eval: --cache is a file", ["eval", ds, "--cache", afile, "--quiet"], afile],
    ["embed: --file missing", ["embed", "--file", missing], missing],
    ["embed: --file is a folder", ["embed", "--file", adir], adir],
    ["train-expert: dataset missing", ["train-expert", missing, "--out", join(root, "out-3"), "--quiet"], missing],
    ["train-expert: --out is a file", ["train-expert", ds, "--out", afile, "--quiet"], afile],
    ["experiment: --datasets missing", ["experiment", "--datasets", missing, "--quiet"], missing],
    ["serve: --store is a file", ["serve", "--store", afile, "--experts", experts, "--quiet"], afile],
    ["serve: --experts missing", ["serve", "--store", join(root, "store-1"), "--experts", missing, "--quiet"], missing],
    ["serve: --corpus missing", ["serve", "--store", join(root, "store-2"), "--experts", experts, "--corpus", missing, "--quiet"], missing],
    ["serve: --corpus is a folder", ["serve", "--store", join(root, "store-3"), "--experts", experts, "--corpus", adir, "--quiet"], adir],
    ["serve: --pilots missing", ["serve", "--store", join(root, "store-4"), "--experts", experts, "--pilots", missing, "--quiet"], missing],
    ["serve: a damaged store", ["serve", "--store", damagedStore, "--experts", experts, "--quiet"], "store.json"],
    ["add-domain: documents missing", ["add-domain", missing, "--name", "dom", "--store", join(root, "store-8"), "--experts", experts, "--quiet"], missing],
    ["add-domain: --store is a file", ["add-domain", ds, "--name", "dom", "--store", afile, "--experts", experts, "--quiet"], afile],
  ];
  it(`${CASES.length} commands x missing / wrong-type paths`, async () => {
    const runs = await cliBatch(CASES.map((c) => c[1]));
    CASES.forEach(([label, , path], i) => {
      try {
        expectOneLine(runs[i]!, path);
      } catch (err) {
        throw new Error(`${label}: ${(err as Error).message}`);
      }
    });
  }, 900_000);

  it("unreadable files: index, embed --file, serve --corpus", async () => {
    const runs = await cliBatch(
      [
        ["index", unreadable, "--out", join(root, "out-4"), "--quiet"],
        ["embed", "--file", secretFile],
        ["serve", "--store", join(root, "store-5"), "--experts", experts, "--corpus", secretFile, "--quiet"],
      ],
      { asNobody: true },
    );
    for (const r of runs) expectOneLine(r, secretFile);
  }, 600_000);

  it("through the real entry point, in separate processes: a damaged store, a missing --corpus, a usage error", async () => {
    expectOneLine(await cli(["serve", "--store", damagedStore, "--experts", experts, "--quiet"]), "store.json");
    expectOneLine(await cli(["serve", "--store", join(root, "store-7"), "--experts", experts, "--corpus", missing, "--quiet"]), missing);
    const r = await cli(["index", ds]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--store");
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expectOneLine(await cli(["serve", "--store", join(root, "store-6"), "--experts", experts, "--port", "http"]), "--port");
  }, 600_000);
});
