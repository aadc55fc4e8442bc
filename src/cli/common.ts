/** Options and helpers every command shares: model choice, threads, output mode, errors. */
import type { Command } from "commander";
import { RouterRetrieverError } from "../errors.js";
import { Encoder } from "../model/encoder.js";
import { resolveModelSpec } from "../model/spec.js";
export { pct } from "../util/format.js";

export interface ModelFlags {
  model?: string;
  threads?: string;
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .option("--model <dir>", "HuggingFace-layout BERT model folder, or 'default' (all-MiniLM-L6-v2)", "default")
    .option("--threads <n>", "ONNX Runtime intra-op threads", "1");
}

export function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new RouterRetrieverError("BAD_INPUT", `${flag} must be a positive integer, got "${value}"`);
  return n;
}

export async function openEncoder(flags: ModelFlags): Promise<Encoder> {
  return Encoder.load(resolveModelSpec(flags.model), { threads: positiveInt(flags.threads ?? "1", "--threads") });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** A plain markdown table, readable in a terminal and pasteable into notes. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
