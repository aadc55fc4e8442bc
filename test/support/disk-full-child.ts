/**
 * Child process for the disk-full test: runs inside `unshare -rm` with a small tmpfs mounted at
 * <dir>, opens a store there and serves it on a free port, printing "listening <url>". On the
 * line "reopen" on stdin it closes everything, reopens the store from disk and prints
 * "reopened <json>" with the documents it holds, then exits.
 *
 *   node --import tsx test/support/disk-full-child.ts <dir> <token>
 */
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { RouterRetriever } from "../../src/engine/router-retriever.js";
import { startService } from "../../src/service/server.js";

const [dir, token] = process.argv.slice(2) as [string, string];
const storeDir = join(dir, "store");
const expertsDir = join(dir, "experts");
mkdirSync(expertsDir, { recursive: true });
let rr = await RouterRetriever.open({ store: storeDir, expertsDir, onWarning: () => {} });
const svc = await startService(rr, { port: 0, token, log: (l) => process.stderr.write(l + "\n") });
process.stdout.write(`listening ${svc.url}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== "reopen") continue;
  await svc.close();
  await rr.close();
  rr = await RouterRetriever.open({ store: storeDir, expertsDir, onWarning: () => {} });
  const candidates: string[] = [];
  for (let i = 0; i < 400; i++) for (let j = 0; j < 16; j++) candidates.push(`d${i}-${j}`);
  const ids = [...(await rr.existingDocuments(candidates))];
  process.stdout.write(`reopened ${JSON.stringify({ count: (await rr.countDocuments()), ids })}\n`);
  await rr.close();
  process.exit(0);
}
