import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { precisionFlag, threadsFlag } from "./common.js";
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

  it("refuses a precision or thread count it does not know, naming the flag", () => {
    expect(precisionFlag({ precision: "int8" })).toBe("int8");
    expect(() => precisionFlag({ precision: "fp16" })).toThrow(RouterRetrieverError);
    expect(() => precisionFlag({ precision: "fp16" })).toThrow(/--precision must be fp32 or int8, got "fp16"/);
    expect(() => threadsFlag({ threads: "0" })).toThrow(/--threads must be a positive integer/);
  });
});
