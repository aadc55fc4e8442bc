import { basename } from "node:path";
import { Command } from "commander";
import { RouterRetrieverError } from "../../errors.js";
import { loadModel } from "../../model/encoder.js";
import { resolveModelSpec } from "../../model/spec.js";
import { evidenceLibrary, ROUTING_EVIDENCE_FILE } from "../../routing/evidence.js";
import { writeExpertRoutingEvidence } from "../../training/routing-evidence.js";
import { TRAINING_SOURCES } from "../../data/pairs.js";
import { DEFAULT_LORA, DEFAULT_LR, NEGATIVES, trainExpert, type Negatives, type TrainEvent } from "../../training/trainer.js";
import { addCommandOptions, finiteNumber, requireDir, requireOutputDir, positiveInt, printJson, threadsFlag, trainingFlags, type CommonFlags, type TrainingFlags } from "../common.js";
import { startProgress, type Progress } from "../progress.js";

interface TrainFlags extends CommonFlags, TrainingFlags {
  out: string;
  id?: string;
  source: string;
  rank: string;
  alpha: string;
  dropout: string;
  targets: string;
  temperature: string;
  negatives: string;
  balance?: boolean;
  routingEvidence: boolean;
}

export function trainExpertCommand(): Command {
  return addCommandOptions(
    new Command("train-expert")
      .description("Train a query-side LoRA expert on a BEIR dataset; saved in PEFT's layout, resumable")
      .argument("<datasets...>", "BEIR dataset folder(s): train qrels, generated-queries/, or a bare corpus; several = Multi-Task")
      .requiredOption("--out <dir>", "expert folder to write (PEFT adapter); state for resuming goes to <dir>.checkpoint")
      .option("--id <id>", "expert id (default: the dataset folder name)")
      .option("--source <kind>", `auto | ${TRAINING_SOURCES.join(" | ")} (auto: train qrels, else the corpus's own argument -> counter-argument split, else generated queries, else pseudo-queries)`, "auto")
      .option("--rank <n>", "LoRA rank", "8")
      .option("--alpha <n>", "LoRA alpha", "32")
      .option("--dropout <x>", "LoRA dropout", "0.1")
      .option("--targets <list>", "LoRA target modules, comma-separated (PEFT suffixes; \"dense\" = attention output and both FFN layers)", DEFAULT_LORA.targetModules.join(","))
      .option("--temperature <x>", "InfoNCE temperature", "0.05")
      .option("--negatives <kind>", "corpus (softmax over the whole cached corpus) | in-batch (the paper's loss)", "corpus")
      .option("--balance", "Multi-Task: down-sample every dataset to the smallest one's pair count")
      .option("--no-routing-evidence", "do not write routing.json (the domain's pilot material) beside the adapter"),
    {
      precision: false,
      // The trainer's own defaults (training/trainer.ts), shown in --help.
      training: { epochs: 10, patience: 3, batchSize: 64, lr: DEFAULT_LR, seed: 0, evidenceQueries: 500, pairs: "pairs (per dataset)" },
      cache: true,
      json: "the result as JSON",
      quiet: true,
    },
  ).action(async (dirs: string[], flags: TrainFlags) => {
    const source = flags.source;
    if (source !== "auto" && !(TRAINING_SOURCES as readonly string[]).includes(source)) {
      throw new RouterRetrieverError("BAD_INPUT", `--source must be auto, ${TRAINING_SOURCES.join(", ")}, got "${source}"`);
    }
    if (!(NEGATIVES as readonly string[]).includes(flags.negatives)) throw new RouterRetrieverError("BAD_INPUT", `--negatives must be ${NEGATIVES.join(" or ")}, got "${flags.negatives}"`);
    for (const dir of dirs) requireDir(dir, "dataset");
    requireOutputDir(flags.out, "--out");
    if (flags.cache !== undefined) requireOutputDir(flags.cache, "--cache");
    const t = trainingFlags(flags);
    const model = loadModel(resolveModelSpec(flags.model));
    let bar: Progress | undefined;
    let lastLoss = NaN;
    const onEvent = (e: TrainEvent): void => {
      if (flags.quiet) return;
      switch (e.kind) {
        case "setup":
          process.stderr.write(`train-expert: ${e.message}\n`);
          break;
        case "corpus":
          if (!bar) bar = startProgress("encode corpus", e.total, { unit: "docs" });
          bar.update(e.done);
          if (e.done === e.total) { bar.stop(); bar = undefined; }
          break;
        case "start":
          process.stderr.write(`train-expert: ${e.pairs} pairs, ${e.stepsPerEpoch} steps/epoch, ${e.devQueries} dev queries; base dev nDCG@10 ${e.baseDevNdcg10.toFixed(4)}\n`);
          bar = startProgress("train", e.totalSteps, { unit: "steps" });
          bar.update(e.resumedEpoch * e.stepsPerEpoch);
          break;
        case "step":
          lastLoss = e.loss;
          bar?.update(e.step, { epoch: e.epoch, loss: lastLoss.toFixed(4), "pairs/s": e.pairsPerSec.toFixed(1) });
          break;
        case "epoch":
          process.stderr.write(`\nepoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)}, dev nDCG@10 ${e.devNdcg10.toFixed(4)}${e.improved ? " (best so far, kept)" : ""}, ${e.seconds.toFixed(1)} s\n`);
          break;
      }
    };
    const res = await trainExpert(model, {
      datasetDirs: dirs,
      balance: flags.balance ?? false,
      expertId: flags.id ?? (dirs.length === 1 ? basename(dirs[0]!) : "multitask"),
      outDir: flags.out,
      source: source as "auto",
      epochs: t.epochs,
      batchSize: t.batchSize,
      lr: t.lr,
      patience: t.patience,
      seed: t.seed,
      lora: { rank: positiveInt(flags.rank, "--rank"), alpha: finiteNumber(flags.alpha, "--alpha"), dropout: finiteNumber(flags.dropout, "--dropout"), targetModules: flags.targets.split(",").map((m) => m.trim()) },
      temperature: finiteNumber(flags.temperature, "--temperature"),
      negatives: flags.negatives as Negatives,
      maxPairs: t.maxPairs,
      threads: threadsFlag(flags),
      cacheDir: flags.cache,
      onEvent,
    });
    bar?.stop();
    // One domain: the expert carries its own routing evidence (docs/routing-evidence.md).
    let evidence: { queries: number; pilots: Record<string, number> } | undefined;
    if (flags.routingEvidence && dirs.length === 1) {
      let eb: Progress | undefined;
      const ev = await writeExpertRoutingEvidence(model, res.expert, flags.out, {
        datasetDir: dirs[0]!,
        domain: res.expert.meta.domain,
        source: source as "auto",
        seed: t.seed,
        maxQueries: t.evidenceQueries,
        cacheDir: flags.cache,
        threads: positiveInt(flags.threads ?? "1", "--threads"),
        onProgress: flags.quiet
          ? undefined
          : (p) => {
              eb ??= startProgress("routing evidence", p.total * 2, { unit: "queries" });
              eb.update(p.candidate === "base" ? p.done : p.total + p.done);
            },
      });
      eb?.stop();
      const pilots: Record<string, number> = {};
      for (const p of evidenceLibrary(ev).pilots) pilots[p.expert] = p.size;
      evidence = { queries: ev.items.length, pilots };
      if (!flags.quiet) process.stderr.write(`wrote ${flags.out}/${ROUTING_EVIDENCE_FILE}: ${ev.items.length} ${ev.querySource} queries; won by ${Object.entries(pilots).map(([e, n]) => `${e} ${n}`).join(", ")}\n`);
    }
    const summary = {
      expert: res.expert.id,
      out: flags.out,
      bestEpoch: res.bestEpoch,
      baseDevNdcg10: res.baseDevNdcg10,
      bestDevNdcg10: res.bestDevNdcg10,
      trainSeconds: res.trainSeconds,
      secondsToBest: res.secondsToBest,
      meanStepSeconds: res.meanStepSeconds,
      pairsPerSec: res.pairsPerSec,
      history: res.history,
      ...(evidence !== undefined ? { routingEvidence: evidence } : {}),
    };
    if (flags.json) printJson(summary);
    else process.stderr.write(`saved ${flags.out}: best epoch ${res.bestEpoch}, dev nDCG@10 ${res.baseDevNdcg10.toFixed(4)} (base) -> ${res.bestDevNdcg10.toFixed(4)}\n`);
    if (res.bestEpoch === 0 && !flags.quiet) process.stderr.write(`train-expert: WARNING: no epoch beat the base on dev (${res.baseDevNdcg10.toFixed(4)}); the saved expert is the base (B = 0)\n`);
  });
}
