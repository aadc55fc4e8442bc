/**
 * `routerretriever add-domain PATH --name NAME --store DIR --experts DIR`: a folder of
 * documents (or a JSON-lines file, or a BEIR dataset folder) becomes a routed expert in one
 * command (workflows/add-domain.ts), with a progress bar per stage. For a running
 * service, the same work runs through POST /api/domains (one writer per store).
 */
import { Command } from "commander";
import { RouterRetriever } from "../../engine/router-retriever.js";
import { addDomain, type AddDomainProgress } from "../../workflows/add-domain.js";
import { readDomainDocuments } from "../../data/domain-docs.js";
import { RouterRetrieverError } from "../../errors.js";
import { addModelOptions, positiveInt, printJson } from "../common.js";
import { startProgress, type Progress } from "../progress.js";

interface AddDomainFlags {
  name: string;
  store: string;
  experts: string;
  pilots?: string;
  idPrefix?: string;
  epochs: string;
  patience: string;
  batchSize: string;
  lr: string;
  maxPairs: string;
  seed: string;
  evidenceQueries: string;
  cache?: string;
  model: string;
  threads: string;
  json?: boolean;
  quiet?: boolean;
}

export function addDomainCommand(): Command {
  return addModelOptions(
    new Command("add-domain")
      .description("Add a domain from its documents alone: store them, train an expert on pseudo-queries, register it with routing evidence")
      .argument("<path>", "JSON-lines documents {id,title,text}, a BEIR dataset folder (corpus.jsonl), or a folder of .txt/.md files")
      .requiredOption("--name <name>", "the domain's name, also the expert's folder name")
      .requiredOption("--store <dir>", "store folder (created if absent)")
      .requiredOption("--experts <dir>", "folder of expert folders; the new expert is written here")
      .option("--pilots <file>", "pilot library file of the store's existing experts")
      .option("--id-prefix <p>", "prefix for document ids (default: '<name>/'; '' keeps ids as they are)")
      .option("--epochs <n>", "maximum training epochs", "3")
      .option("--patience <n>", "epochs without dev improvement before stopping", "2")
      .option("--batch-size <n>", "pairs per step", "64")
      .option("--lr <x>", "AdamW learning rate", "1e-3")
      .option("--max-pairs <n>", "train on a random subset of this many pseudo-queries", "2048")
      .option("--seed <n>", "seed for pseudo-queries, init, shuffling", "0")
      .option("--evidence-queries <n>", "pseudo-queries scored for the routing evidence", "500")
      .option("--cache <dir>", "corpus-vector cache folder")
      .option("--json", "print the result as JSON on stdout")
      .option("--quiet", "no progress on stderr"),
  ).action(async (path: string, flags: AddDomainFlags) => {
    const num = (v: string, flag: string): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new RouterRetrieverError("BAD_INPUT", `${flag} must be a positive number, got "${v}"`);
      return n;
    };
    const say = (m: string): void => {
      if (!flags.quiet) process.stderr.write(`add-domain: ${m}\n`);
    };
    const read = await readDomainDocuments(path);
    for (const f of read.skipped) say(`skipped ${f}: empty`);
    const prefix = flags.idPrefix ?? `${flags.name}/`;
    const documents = read.documents.map((d) => (prefix === "" || d.id.startsWith(prefix) ? d : { ...d, id: prefix + d.id }));
    say(`${documents.length} documents from ${read.description}`);
    const threads = positiveInt(flags.threads, "--threads");
    const rr = await RouterRetriever.open({
      store: flags.store,
      expertsDir: flags.experts,
      pilotsPath: flags.pilots,
      model: flags.model,
      threads,
      onWarning: (m) => process.stderr.write(`routerretriever: warning: ${m}\n`),
    });
    let bar: Progress | undefined;
    let barStage = "";
    const onProgress = (p: AddDomainProgress): void => {
      if (flags.quiet) return;
      if (p.message !== undefined) {
        bar?.stop();
        bar = undefined;
        barStage = "";
        say(p.message);
        return;
      }
      if (p.total === 0) return;
      if (barStage !== p.stage) {
        bar?.stop();
        bar = startProgress(p.stage, p.total, { unit: p.unit });
        barStage = p.stage;
      }
      bar!.setTotal(p.total);
      bar!.update(p.done);
    };
    try {
      const res = await addDomain(rr, {
        name: flags.name,
        documents,
        epochs: positiveInt(flags.epochs, "--epochs"),
        patience: positiveInt(flags.patience, "--patience"),
        batchSize: positiveInt(flags.batchSize, "--batch-size"),
        lr: num(flags.lr, "--lr"),
        maxPairs: positiveInt(flags.maxPairs, "--max-pairs"),
        seed: Number(flags.seed),
        evidenceQueries: positiveInt(flags.evidenceQueries, "--evidence-queries"),
        threads,
        cacheDir: flags.cache,
        onProgress,
      });
      bar?.stop();
      if (flags.json) printJson(res);
      else {
        const s = res.seconds;
        say(`done in ${s.total.toFixed(0)} s (documents ${s.documents.toFixed(0)} s, training ${s.train.toFixed(0)} s, evidence ${s.evidence.toFixed(0)} s): expert "${res.expert.name}" routable=${res.expert.routable} with ${res.expert.pilots} pilots`);
      }
    } finally {
      bar?.stop();
      await rr.close();
    }
  });
}
