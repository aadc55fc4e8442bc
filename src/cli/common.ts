import { DEFAULT_RULE, PAPER_RULE, type RoutingRule } from "../routing/types.js";
/** Options and helpers every command shares: model choice, threads, output mode, errors. */
import { accessSync, constants as fsc, statSync, type Stats } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { fromSystemError, RouterRetrieverError } from "../errors.js";
import { PRECISIONS, type Precision } from "../model/bert-graph.js";
import { Encoder } from "../model/encoder.js";
import { resolveModelSpec } from "../model/spec.js";
import { isPostgresUrl } from "../store/location.js";
import { checkEfSearch, DEFAULT_EF_SEARCH, MAX_EF_SEARCH } from "../store/postgres/ef-search.js";
export { pct } from "../util/format.js";

export interface ModelFlags {
  model?: string;
  threads?: string;
  precision?: string;
}

/** The flags addCommandOptions adds, as commander hands them over. */
export interface CommonFlags extends ModelFlags {
  cache?: string;
  json?: boolean;
  quiet?: boolean;
}

/** The training flags train-expert and add-domain share, as commander hands them over. */
export interface TrainingFlags {
  epochs: string;
  patience: string;
  batchSize: string;
  lr: string;
  seed: string;
  maxPairs?: string;
  evidenceQueries: string;
}

/** A command's defaults for the training flags (each command keeps its own recipe). */
export interface TrainingDefaults {
  readonly epochs: number;
  readonly patience: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly seed: number;
  /** No default: every pair is used. */
  readonly maxPairs?: number;
  readonly evidenceQueries: number;
  /** What the command trains on, for --max-pairs' help ("pairs (per dataset)", "pseudo-queries"). */
  readonly pairs: string;
}

export interface CommandOptions {
  /** --precision's default, or false where it means nothing (training builds fp32 graphs only). */
  readonly precision?: Precision | false;
  /** --cache <dir>: the corpus-vector cache folder. */
  readonly cache?: boolean;
  /** --json, with what it prints on stdout. */
  readonly json?: string;
  /** --quiet, with what it silences (default: progress on stderr). */
  readonly quiet?: string | true;
  /** The training flags, with this command's defaults. */
  readonly training?: TrainingDefaults;
}

/**
 * The machine's cores as ONNX Runtime threads: a command that encodes a corpus runs its big
 * batches at the GEMM ceiling only with every core (a 1-thread default halved `eval` on 2 cores).
 */
export function defaultThreads(): number {
  return availableParallelism();
}

/**
 * The options commands share, each worded once: the training flags (train-expert, add-domain),
 * --cache, --json, --quiet, and --model and --threads on every command (each runs the model);
 * --precision on those that encode for retrieval.
 */
export function addCommandOptions(cmd: Command, opts: CommandOptions = {}): Command {
  const t = opts.training;
  if (t !== undefined) {
    cmd
      .option("--epochs <n>", "maximum epochs", String(t.epochs))
      .option("--patience <n>", "epochs without dev improvement before stopping", String(t.patience))
      .option("--batch-size <n>", "pairs per step; the paper used 256", String(t.batchSize))
      .option("--lr <x>", "AdamW learning rate (1e-3: at a few hundred CPU steps, 1e-4 leaves the zero-initialised B matrices near zero)", String(t.lr))
      .option("--max-pairs <n>", `train on a random subset of this many ${t.pairs}`, t.maxPairs === undefined ? undefined : String(t.maxPairs))
      .option("--seed <n>", "seed for sampling, init, shuffling and dropout", String(t.seed))
      .option("--evidence-queries <n>", "queries scored for the routing evidence (routing.json; a seeded sample)", String(t.evidenceQueries));
  }
  if (opts.cache) cmd.option("--cache <dir>", "corpus-vector cache folder (default: $ROUTERRETRIEVER_CACHE or ~/.cache/routerretriever)");
  if (opts.json !== undefined) cmd.option("--json", `print ${opts.json} on stdout`);
  if (opts.quiet !== undefined) cmd.option("--quiet", opts.quiet === true ? "no progress on stderr" : opts.quiet);
  cmd
    .option("--model <dir>", "HuggingFace-layout BERT model folder, or 'default' (all-MiniLM-L6-v2)", "default")
    .option("--threads <n>", "ONNX Runtime intra-op threads (default: the machine's cores)", String(defaultThreads()));
  if (opts.precision !== false) {
    cmd.option("--precision <p>", "arithmetic of the encoder's linear layers: fp32 or int8 (weights int8 per channel, activations int8 per token)", opts.precision ?? "fp32");
  }
  return cmd;
}

/** The training flags as numbers, each refused with its flag's name when it is not one. */
export function trainingFlags(flags: TrainingFlags): { epochs: number; patience: number; batchSize: number; lr: number; seed: number; maxPairs: number | undefined; evidenceQueries: number } {
  const lr = finiteNumber(flags.lr, "--lr");
  if (lr <= 0) throw new RouterRetrieverError("BAD_INPUT", `--lr must be a positive number, got "${flags.lr}"`);
  return {
    epochs: positiveInt(flags.epochs, "--epochs"),
    patience: positiveInt(flags.patience, "--patience"),
    batchSize: positiveInt(flags.batchSize, "--batch-size"),
    lr,
    seed: finiteNumber(flags.seed, "--seed"),
    maxPairs: flags.maxPairs === undefined ? undefined : positiveInt(flags.maxPairs, "--max-pairs"),
    evidenceQueries: positiveInt(flags.evidenceQueries, "--evidence-queries"),
  };
}

export function finiteNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new RouterRetrieverError("BAD_INPUT", `${flag} must be a number, got "${value}"`);
  return n;
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
export const ROUTER_OPTION = ["--router <name>", "default (the router chosen on dev, results/experiment: knn over the labelled pilot queries) | paper (hard, mean over pilots, dot product)", "default"] as const;

/**
 * `--base-margin X`: how much better (in nDCG@10) an expert must be expected to do than the base
 * model, for every query, replacing the rule's own margins (DEFAULT_RULE's 0.02 for queries
 * like its labelled ones and 0.15 for the rest, chosen on dev). A lower margin lets an expert
 * added from documents alone lead its domain's queries: its pseudo-query evidence understates
 * its gain (README, "Your own domain").
 */
export const BASE_MARGIN_OPTION = [
  "--base-margin <x>",
  "nDCG@10 an expert must be expected to gain over the base model before it leads a query, one margin for every query (default: the router's own; the default router's are 0.02 for queries like its labelled ones, 0.15 for the rest); lower it, e.g. 0.05, for experts added from documents alone",
] as const;

export function routerFlag(value: string | undefined, baseMargin?: string): RoutingRule {
  const v = value ?? "default";
  const rule = v === "default" ? DEFAULT_RULE : v === "paper" ? PAPER_RULE : undefined;
  if (!rule) throw new RouterRetrieverError("BAD_INPUT", `--router must be default or paper, got "${v}"`);
  if (baseMargin === undefined) return rule;
  const m = finiteNumber(baseMargin, "--base-margin");
  if (m < 0 || m > 1) throw new RouterRetrieverError("BAD_INPUT", `--base-margin must be between 0 and 1 (nDCG@10), got ${baseMargin}`);
  // The flag is the margin for every query: a familiar query's own margin (familiarBaseBias) gives way to it.
  const { familiarBaseBias: _, ...rest } = rule;
  return { ...rest, baseBias: m };
}

/** `--ef-search N` of the commands that search a store: [flag, description]. */
export const EF_SEARCH_OPTION = [
  "--ef-search <n>",
  `PostgreSQL store: pgvector's hnsw.ef_search for the HNSW index, 1..${MAX_EF_SEARCH} (default ${DEFAULT_EF_SEARCH}); larger finds more of the true top k, slower`,
] as const;

/** --ef-search, checked against the store it is for and --exact (undefined when not given). */
export function efSearchFlag(flags: { efSearch?: string; exact?: boolean }, store: string): number | undefined {
  if (flags.efSearch === undefined) return undefined;
  const n = checkEfSearch(flags.efSearch, "--ef-search");
  if (!isPostgresUrl(store)) throw new RouterRetrieverError("BAD_INPUT", `--ef-search applies to a PostgreSQL store's HNSW index; ${store} is a store folder, which is always searched exactly`);
  if (flags.exact) throw new RouterRetrieverError("BAD_INPUT", "--ef-search and --exact exclude each other: --exact scans every row without the HNSW index");
  return n;
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

/**
 * Checks a path the user named before any slow work (a model load, an index open), so a typo
 * costs a second, not a minute. Each throws a RouterRetrieverError naming the option and path.
 */
export function requireFile(path: string, what: string): string {
  const st = statOf(path, what);
  if (!st.isFile()) throw new RouterRetrieverError("BAD_INPUT", `${what} ${path}: ${st.isDirectory() ? "is a folder, expected a file" : "is not a regular file"}`);
  checkReadable(path, what);
  return path;
}

export function requireDir(path: string, what: string): string {
  const st = statOf(path, what);
  if (!st.isDirectory()) throw new RouterRetrieverError("BAD_INPUT", `${what} ${path}: is a file, expected a folder`);
  checkReadable(path, what);
  return path;
}

/** A folder the command will write into: it may not exist yet, but must not be a file (nor sit under one). */
export function requireOutputDir(path: string, what: string): string {
  let p = resolve(path);
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") throw fromSystemError(err) ?? err;
      const up = dirname(p);
      if (up === p) return path;
      p = up;
      continue;
    }
    if (!st.isDirectory()) throw new RouterRetrieverError("BAD_INPUT", `${what} ${path}: ${p === resolve(path) ? "is a file, expected a folder" : `${p} is a file, so no folder can be made under it`}`);
    return path;
  }
}

function statOf(path: string, what: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new RouterRetrieverError("NOT_FOUND", `${what} ${path}: no such file or folder`);
    if (code === "ENOTDIR") throw new RouterRetrieverError("NOT_FOUND", `${what} ${path}: a part of this path is a file, not a folder`);
    throw new RouterRetrieverError("BAD_INPUT", `${what} ${path}: ${fromSystemError(err)?.message ?? String(err)}`);
  }
}

function checkReadable(path: string, what: string): void {
  try {
    accessSync(path, fsc.R_OK);
  } catch {
    throw new RouterRetrieverError("BAD_INPUT", `${what} ${path}: permission denied (not readable)`);
  }
}
