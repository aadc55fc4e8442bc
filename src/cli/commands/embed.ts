import { readFileSync } from "node:fs";
import { Command } from "commander";
import { RouterRetrieverError } from "../../errors.js";
import { addCommandOptions, requireFile, openEncoder, printJson, positiveInt, type CommonFlags } from "../common.js";
import { startProgress } from "../progress.js";

export function embedCommand(): Command {
  return addCommandOptions(
    new Command("embed")
      .description("Embed texts with the base model; one vector per text")
      .argument("[texts...]", "texts to embed (or use --file)")
      .option("--file <path>", "read texts from a file, one per line")
      .option("--batch-size <n>", "rows per ONNX Runtime run", "32"),
    { json: "a JSON array of vectors", quiet: true },
  ).action(async (texts: string[], flags: CommonFlags & { file?: string; batchSize: string }) => {
    const all = [...texts];
    if (flags.file) requireFile(flags.file, "--file");
    if (flags.file) all.push(...readFileSync(flags.file, "utf8").split(/\r?\n/).filter((l) => l.length > 0));
    if (all.length === 0) throw new RouterRetrieverError("BAD_INPUT", "embed: give at least one TEXT or --file");
    const enc = await openEncoder(flags);
    const bar = startProgress("embed", all.length, { unit: "texts", quiet: flags.quiet || all.length < 64 });
    const vecs = await enc.encode(all, { batchSize: positiveInt(flags.batchSize, "--batch-size"), onProgress: (p) => bar.update(p.done) });
    bar.stop();
    const rows = all.map((_, i) => Array.from(vecs.subarray(i * enc.dims, (i + 1) * enc.dims)));
    if (flags.json) printJson(rows);
    else rows.forEach((r, i) => console.log(`${all[i]!.slice(0, 40)}\t[${r.slice(0, 4).map((x) => x.toFixed(4)).join(", ")}, ...] (${enc.dims} dims)`));
    await enc.close();
  });
}
