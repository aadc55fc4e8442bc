import { basename } from "node:path";
import { Command } from "commander";
import { loadBeirDataset } from "../../data/beir.js";
import { evaluateDataset, ignoreIdenticalIdsFor, type QueryEncoder } from "../../evaluation/evaluate.js";
import { ExpertEncoder } from "../../experts/expert-encoder.js";
import { loadExpert } from "../../experts/peft.js";
import { DEFAULT_KS } from "../../evaluation/metrics.js";
import { addCommandOptions, requireDir, requireOutputDir, markdownTable, openEncoder, pct, precisionFlag, printJson, positiveInt, threadsFlag, type CommonFlags } from "../common.js";
import { startProgress } from "../progress.js";

export function evalCommand(): Command {
  return addCommandOptions(
    new Command("eval")
      .description("Evaluate retrieval on a BEIR dataset folder (nDCG, Recall, MRR, MAP at several k)")
      .argument("<dataset...>", "BEIR dataset folders (corpus.jsonl, queries.jsonl, qrels/)")
      .option("--split <name>", "qrels split", "test")
      .option("--ks <list>", "cutoffs, comma-separated", DEFAULT_KS.join(","))
      .option("--ignore-identical-ids <bool>", "drop retrieved docs whose id equals the query id (default: only arguana, quora)")
      .option("--expert <dir>", "encode queries with this LoRA expert (a PEFT folder); documents stay base")
      .option("--strict", "refuse a qrels file that judges a (query, doc) pair twice (default: keep the last grade, as BEIR does, with a warning)"),
    { cache: true, json: "the metrics as JSON (fractions)", quiet: true },
  ).action(async (dirs: string[], flags: CommonFlags & { split: string; ks: string; ignoreIdenticalIds?: string; expert?: string; strict?: boolean }) => {
    const ks = flags.ks.split(",").map((k) => positiveInt(k.trim(), "--ks"));
    for (const dir of dirs) requireDir(dir, "dataset");
    if (flags.expert !== undefined) requireDir(flags.expert, "--expert");
    if (flags.cache !== undefined) requireOutputDir(flags.cache, "--cache");
    const enc = await openEncoder(flags);
    let encodeQueries: QueryEncoder | undefined;
    let expertEncoder: ExpertEncoder | undefined;
    if (flags.expert) {
      const expert = loadExpert(flags.expert, enc.model);
      expertEncoder = await ExpertEncoder.create(enc.model, [expert], { threads: threadsFlag(flags), precision: precisionFlag(flags) });
      const ee = expertEncoder;
      encodeQueries = (texts) => ee.encode(texts, expert.id);
    }
    const results: Record<string, Record<string, number | string>> = {};
    for (const dir of dirs) {
      const ds = await loadBeirDataset(dir, flags.split, { strict: flags.strict === true, onWarning: (m) => process.stderr.write(`routerretriever: warning: ${m}\n`) });
      const ignore = flags.ignoreIdenticalIds === undefined ? ignoreIdenticalIdsFor(ds.name) : flags.ignoreIdenticalIds === "true";
      const bar = startProgress(`encode ${ds.name} corpus`, ds.corpus.length, { unit: "docs", quiet: flags.quiet });
      const ev = await evaluateDataset(ds, enc, { ks, cacheDir: flags.cache, ignoreIdenticalIds: ignore, encodeQueries, onCorpusProgress: (p) => bar.update(p.done) });
      bar.stop();
      results[ds.name] = { ...ev.mean, queries: ev.queries };
    }
    await enc.close();
    await expertEncoder?.close();
    const names = Object.keys(results);
    if (flags.json) {
      // One dataset: the metrics object itself (what scripts expect); several: keyed by dataset.
      printJson(names.length === 1 ? { dataset: names[0], ...results[names[0]!] } : results);
      return;
    }
    const cols = ["ndcg@10", "recall@100", "mrr@10", "map@100"].filter((c) => c in results[names[0]!]!);
    console.log(markdownTable(["dataset", "queries", ...cols], names.map((n) => [basename(n), String(results[n]!.queries), ...cols.map((c) => pct(results[n]![c] as number))])));
  });
}
