/**
 * Child process for the durability test: opens a store and appends documents in a loop,
 * printing "ok <id> <id> ..." on stdout after each add has returned (i.e. committed). The test
 * kills it with SIGKILL at an arbitrary moment and checks that every printed id survived.
 *
 *   node --import tsx test/support/engine-append-child.ts <storeDir> <expertsDir> <prefix>
 */
import { RouterRetriever } from "../../src/engine/router-retriever.js";

const [storeDir, expertsDir, prefix] = process.argv.slice(2) as [string, string, string];
const rr = await RouterRetriever.open({ store: storeDir, expertsDir, onWarning: () => {} });
process.stdout.write("ready\n");
for (let n = 0; ; n++) {
  const docs = Array.from({ length: 3 }, (_, j) => ({
    id: `${prefix}-${n}-${j}`,
    title: `Document ${n}.${j}`,
    // Varied lengths, so kills land at different points of the write; the prefix keeps texts of
    // different rounds apart (identical texts tie in search, and either may come first).
    text: `Note ${prefix} ${n}.${j} about ${["wings", "proteins", "python lists", "debates"][(n + j) % 4]}. `.repeat(1 + ((n * 7 + j) % 20)),
  }));
  await rr.addDocuments(docs);
  process.stdout.write(`ok ${docs.map((d) => d.id).join(" ")}\n`);
}
