/**
 * The package as a user gets it: `npm pack` (which builds dist/ first), the tarball installed
 * into a fresh project, `routerretriever` imported by name, and the README's library example,
 * cut out of README.md itself, run there (and type-checked against the shipped .d.ts), so the
 * docs cannot drift from the package. Dependencies come from npm's cache when present.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { projectRoot } from "../src/util/paths.js";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const work = mkdtempSync(join(tmpdir(), "rr-pack-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The fenced block between the library-example markers of README.md. */
function readmeExample(): string {
  const readme = readFileSync(join(projectRoot, "README.md"), "utf8");
  const m = /<!-- library-example:start -->\s*```js\n([\s\S]*?)```\s*<!-- library-example:end -->/.exec(readme);
  if (!m) throw new Error("README.md has no library example between <!-- library-example:start --> and <!-- library-example:end -->");
  return m[1]!;
}

// npm pack builds dist/ (prepack) and npm install copies onnxruntime-node: minutes on a loaded machine.
describe("npm pack, install, import", { timeout: 600_000 }, () => {
  let tarball: string;
  const app = join(work, "app");

  it("packs dist/, bin/ and the demo experts, and no sources or tests", async () => {
    const { stdout } = await run(npm, ["pack", "--json", "--pack-destination", work], { cwd: projectRoot, maxBuffer: 64 << 20 });
    // npm prints the prepack build's output before the JSON.
    const info = JSON.parse(stdout.slice(stdout.indexOf("[\n"))) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, info[0]!.filename);
    const files = info[0]!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/engine/router-retriever.js", "bin/routerretriever.js", "demo/pilots.json", "README.md", "package.json"]));
    expect(files.some((f) => f.startsWith("demo/experts/scifact/"))).toBe(true);
    expect(files.filter((f) => f.startsWith("src/") || f.startsWith("test/") || f.includes(".test."))).toEqual([]);
  });

  it("installs into a fresh project and runs the README's library example", async () => {
    await run("mkdir", ["-p", app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "rr-consumer", version: "1.0.0", private: true, type: "module" }));
    // As in this repository: onnxruntime-node's CPU library ships inside its package.
    writeFileSync(join(app, ".npmrc"), "onnxruntime-node-install=skip\n");
    await run(npm, ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund"], { cwd: app, maxBuffer: 64 << 20 });
    const example = readmeExample();
    writeFileSync(join(app, "example.mjs"), example);
    const { stdout, stderr } = await run(process.execPath, ["example.mjs"], { cwd: app, maxBuffer: 16 << 20 });
    expect(stdout, stderr).toMatch(/routed to \S+/);
    expect(stdout).toContain("top hit: json");
    expect(stdout).toMatch(/scifact \(active\)/);
  });

  it("the example type-checks against the shipped declarations", async () => {
    writeFileSync(join(app, "example.mts"), readmeExample());
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", skipLibCheck: true, types: ["node"], typeRoots: [join(projectRoot, "node_modules", "@types")] }, files: ["example.mts"] }),
    );
    const tsc = join(projectRoot, "node_modules", "typescript", "bin", "tsc");
    const r = await run(process.execPath, [tsc, "-p", join(app, "tsconfig.json")], { cwd: app }).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }));
    expect("failed" in r ? r.stdout : "").toBe("");
  });
});
