import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { precisionFlag, routerFlag, threadsFlag, trainingFlags } from "./common.js";
import { DEFAULT_RULE, PAPER_RULE } from "../routing/types.js";
import { buildCli } from "./main.js";

function optionDefault(cmd: Command, flag: string): unknown {
  return cmd.options.find((o) => o.long === flag)?.defaultValue;
}

describe("CLI model options", () => {
  const commands = new Map(buildCli().commands.map((c) => [c.name(), c]));

  it("every command that encodes takes --precision (default fp32) and --threads (default: the machine's cores)", () => {
    for (const name of ["embed", "index", "search", "eval", "experiment", "serve"]) {
      const cmd = commands.get(name)!;
      expect(optionDefault(cmd, "--precision"), name).toBe("fp32");
      expect(optionDefault(cmd, "--threads"), name).toBe(String(availableParallelism()));
    }
    // Training builds fp32 graphs only: threads yes, precision no.
    expect(optionDefault(commands.get("train-expert")!, "--threads")).toBe(String(availableParallelism()));
    expect(commands.get("train-expert")!.options.some((o) => o.long === "--precision")).toBe(false);
  });

  it("serve answers with an ONNX session per core by default (--sessions; --threads then 1 per session unless given)", () => {
    expect(optionDefault(commands.get("serve")!, "--sessions")).toBe(String(availableParallelism()));
  });

  it("train-expert and add-domain take the same training flags, each with its own recipe's defaults", () => {
    // Worded once (--max-pairs names what each trains on).
    const flags = ["--epochs", "--patience", "--batch-size", "--lr", "--seed", "--evidence-queries", "--cache", "--json", "--quiet"];
    const train = commands.get("train-expert")!;
    const domain = commands.get("add-domain")!;
    for (const f of flags) {
      expect(train.options.find((o) => o.long === f)?.description, f).toBe(domain.options.find((o) => o.long === f)?.description);
    }
    expect(train.options.some((o) => o.long === "--max-pairs") && domain.options.some((o) => o.long === "--max-pairs")).toBe(true);
    expect([optionDefault(train, "--epochs"), optionDefault(train, "--max-pairs")]).toEqual(["10", undefined]);
    expect([optionDefault(domain, "--epochs"), optionDefault(domain, "--max-pairs")]).toEqual(["3", "2048"]);
    expect(domain.options.some((o) => o.long === "--precision")).toBe(false);
  });

  it("reads the training flags as numbers, refusing a bad one by its flag", () => {
    const ok = { epochs: "3", patience: "2", batchSize: "64", lr: "1e-3", seed: "0", evidenceQueries: "500" };
    expect(trainingFlags(ok)).toEqual({ epochs: 3, patience: 2, batchSize: 64, lr: 0.001, seed: 0, maxPairs: undefined, evidenceQueries: 500 });
    expect(() => trainingFlags({ ...ok, lr: "0" })).toThrow(/--lr must be a positive number, got "0"/);
    expect(() => trainingFlags({ ...ok, seed: "x" })).toThrow(/--seed must be a number, got "x"/);
    expect(() => trainingFlags({ ...ok, maxPairs: "1.5" })).toThrow(/--max-pairs must be a positive integer/);
  });

  it("refuses a precision or thread count it does not know, naming the flag", () => {
    expect(precisionFlag({ precision: "int8" })).toBe("int8");
    expect(() => precisionFlag({ precision: "fp16" })).toThrow(RouterRetrieverError);
    expect(() => precisionFlag({ precision: "fp16" })).toThrow(/--precision must be fp32 or int8, got "fp16"/);
    expect(() => threadsFlag({ threads: "0" })).toThrow(/--threads must be a positive integer/);
  });
});

describe("--router and --base-margin", () => {
  it("picks the rule and replaces only its base margin", () => {
    expect(routerFlag(undefined)).toBe(DEFAULT_RULE);
    expect(routerFlag("paper")).toBe(PAPER_RULE);
    // The flag is the margin for every query: the default's own margin for familiar queries gives way.
    const { familiarBaseBias, ...rest } = DEFAULT_RULE;
    expect(familiarBaseBias).toBeDefined();
    expect(routerFlag("default", "0.05")).toEqual({ ...rest, baseBias: 0.05 });
    expect(routerFlag("paper", "0")).toEqual({ ...PAPER_RULE, baseBias: 0 });
  });

  it("refuses an unknown router and a margin that is not an nDCG difference", () => {
    expect(() => routerFlag("fancy")).toThrow(/--router must be default or paper/);
    expect(() => routerFlag("default", "abc")).toThrow(RouterRetrieverError);
    expect(() => routerFlag("default", "-0.1")).toThrow(/--base-margin must be between 0 and 1/);
    expect(() => routerFlag("default", "2")).toThrow(/--base-margin must be between 0 and 1/);
  });

  it("is offered by search and serve", () => {
    const cli = buildCli();
    for (const name of ["search", "serve"]) {
      const cmd = cli.commands.find((c) => c.name() === name)!;
      expect(cmd.options.some((o) => o.long === "--base-margin"), name).toBe(true);
    }
  });
});

