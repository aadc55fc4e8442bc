import { DEFAULT_RULE, PAPER_RULE, type RoutingRule } from "../routing/types.js";
/** Options and helpers every command shares: model choice, threads, output mode, errors. */
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { RouterRetrieverError } from "../errors.js";
import { PRECISIONS, type Precision } from "../model/bert-graph.js";
import { Encoder } from "../model/encoder.js";
import { resolveModelSpec } from "../model/spec.js";
export { pct } from "../util/format.js";

export interface ModelFlags {
  model?: string;
  threads?: string;
  precision?: string;
}

/**
 * The machine's cores as ONNX Runtime threads: a command that encodes a corpus runs its big
 * batches at the GEMM ceiling only with every core (a 1-thread default halved `eval` on 2 cores).
 */
export function defaultThreads(): number {
  return availableParallelism();
}

/**
 * --model and --threads on every command that runs the model; --precision on those that encode
 * for retrieval (training builds fp32 graphs only, so train-expert passes `precision: false`).
 */
export function addModelOptions(cmd: Command, opts: { precision?: Precision | false } = {}): Command {
  cmd
    .option("--model <dir>", "HuggingFace-layout BERT model folder, or 'default' (all-MiniLM-L6-v2)", "default")
    .option("--threads <n>", "ONNX Runtime intra-op threads (default: the machine's cores)", String(defaultThreads()));
  if (opts.precision !== false) {
    cmd.option("--precision <p>", "arithmetic of the encoder's linear layers: fp32 or int8 (weights int8 per channel, activations quantised per call)", opts.precision ?? "fp32");
  }
  return cmd;
}

export function threadsFlag(flags: ModelFlags): number {
  return positiveInt(flags.threads ?? String(defaultThreads()), "--threads");
}

export function precisionFlag(flags: ModelFlags): Precision {
  const p = flags.precision ?? "fp32";
  if (!(PRECISIONS as readonly string[]).includes(p)) throw new RouterRetrieverError("BAD_INPUT", `--precision must be ${PRECISIONS.join(" or ")}, got "${p}"`);
  return p as Precision;
}

/** `--router default|paper`: the setting chosen on dev (DEFAULT_RULE) or the paper's hard mean/dot rule. */
export const ROUTER_OPTION = ["--router <name>", "default (the router chosen on dev, results/experiment) | paper (hard, mean over pilots, dot product)", "default"] as const;

export function routerFlag(value: string | undefined): RoutingRule {
  const v = value ?? "default";
  if (v === "default") return DEFAULT_RULE;
  if (v === "paper") return PAPER_RULE;
  throw new RouterRetrieverError("BAD_INPUT", `--router must be default or paper, got "${v}"`);
}

export function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new RouterRetrieverError("BAD_INPUT", `${flag} must be a positive integer, got "${value}"`);
  return n;
}

export async function openEncoder(flags: ModelFlags): Promise<Encoder> {
  return Encoder.load(resolveModelSpec(flags.model), { threads: threadsFlag(flags), precision: precisionFlag(flags) });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** A plain markdown table, readable in a terminal and pasteable into notes. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
