import { existsSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { RouterRetrieverError } from "../../errors.js";
import { defaultDomains, runExperiment } from "../../experiment/run.js";
import { table1, writeExperiment } from "../../experiment/report.js";
import { loadModel } from "../../model/encoder.js";
import { resolveModelSpec } from "../../model/spec.js";
import { sharedDatasetsDir } from "../../util/paths.js";
import { addCommandOptions, requireDir, requireOutputDir, positiveInt, precisionFlag, printJson, threadsFlag, type CommonFlags } from "../common.js";
import { startProgress, type Progress } from "../progress.js";

export function experimentCommand(): Command {
  return addCommandOptions(
    new Command("experiment")
      .description("Run every system (base, Multi-Task, experts, router baselines, RouterRetriever, oracles) on every dataset")
      .option("--datasets <dir>", "folder of BEIR datasets (default ../shared/datasets)")
      .option("--names <list>", "datasets to use, comma-separated", "scifact,arguana,cosqa,cranfield,cisi,cacm")
      .option("--experts <dir>", "folder holding one PEFT expert per dataset name", "results/experts")
      .option("--multitask <dir>", "the Multi-Task LoRA (default <experts>/multitask when present)")
      .option("--pilot-queries <n>", "training queries per domain for the pilot library: all (Algorithm 1) or a number", "all")
      .option("--seed <n>", "seed for sampling", "0")
      .option("--out <dir>", "where to write table1.md, results.json and the SVGs", "results/experiment"),
    { cache: true, json: "the systems' scores as JSON", quiet: true },
  ).action(async (flags: CommonFlags & { datasets?: string; names: string; experts: string; multitask?: string; pilotQueries: string; seed: string; out: string }) => {
    const datasets = flags.datasets ?? sharedDatasetsDir();
    if (!datasets) throw new RouterRetrieverError("NOT_FOUND", "no datasets folder: pass --datasets (../shared/datasets is absent)");
    const names = flags.names.split(",").map((n) => n.trim()).filter(Boolean);
    const experts = new Map(names.filter((n) => existsSync(join(flags.experts, n, "adapter_config.json"))).map((n) => [n, join(flags.experts, n)] as [string, string]));
    const multitaskDir = flags.multitask ?? (existsSync(join(flags.experts, "multitask", "adapter_config.json")) ? join(flags.experts, "multitask") : undefined);
    requireDir(datasets, "--datasets");
    requireOutputDir(flags.out, "--out");
    if (flags.cache !== undefined) requireOutputDir(flags.cache, "--cache");
    const model = loadModel(resolveModelSpec(flags.model));
    let bar: Progress | undefined;
    let stage = "";
    const res = await runExperiment(model, {
      domains: defaultDomains(datasets, names, experts),
      experts,
      multitaskDir,
      maxPilotQueriesPerDomain: flags.pilotQueries === "all" ? undefined : positiveInt(flags.pilotQueries, "--pilot-queries"),
      seed: Number(flags.seed),
      threads: threadsFlag(flags),
      precision: precisionFlag(flags),
      cacheDir: flags.cache,
      onProgress: (s, done, total) => {
        if (flags.quiet) return;
        if (s !== stage) {
          bar?.stop();
          stage = s;
          bar = startProgress(s, total, { unit: "items" });
        }
        // A stage may learn its size as it goes (the soft router grid follows the hard one).
        bar!.setTotal(total);
        bar!.update(done);
      },
    });
    bar?.stop();
    const command = `routerretriever experiment ${process.argv.slice(3).join(" ")}`.trim();
    writeExperiment(flags.out, res, command);
    if (flags.json) printJson(res.systems);
    else console.log(table1(res));
  });
}
