/**
 * Runs several CLI invocations in one process (tests spawn it once instead of paying Node + tsx
 * start-up per case): argv[2] is a JSON file holding a list of argument lists; prints one JSON
 * line with, per invocation, the exit code main() set and everything written to stderr.
 *
 *   node --import tsx test/support/cli-batch.ts cases.json
 */
import { readFileSync } from "node:fs";
import { main } from "../../src/cli/main.js";

const cases = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as string[][];
const out: Array<{ code: number; stderr: string }> = [];
const realErr = process.stderr.write.bind(process.stderr);
const realOut = process.stdout.write.bind(process.stdout);
for (const args of cases) {
  let stderr = "";
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.exitCode = undefined;
  try {
    await main(["node", "routerretriever", ...args]);
  } catch (err) {
    // main() must never throw; record it the way Node would show it.
    stderr += err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.exitCode = 70;
  } finally {
    process.stderr.write = realErr;
    process.stdout.write = realOut;
  }
  out.push({ code: Number(process.exitCode ?? 0), stderr });
}
process.exitCode = 0;
realOut(JSON.stringify(out) + "\n");
