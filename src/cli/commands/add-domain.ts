/**
 * `routerretriever add-domain PATH --name NAME --store DIR --experts DIR`: a folder of
 * documents (or a JSON-lines file, or a BEIR dataset folder) becomes a routed expert in one
 * command (workflows/add-domain.ts), with a progress bar per stage. For a running
 * service, the same work runs through POST /api/domains (one writer per store).
 */
import { Command } from "commander";
import { RouterRetriever } from "../../engine/router-retriever.js";
import { addDomain, DEFAULTS as DOMAIN_DEFAULTS, type AddDomainProgress } from "../../workflows/add-domain.js";
import { readDomainDocuments } from "../../data/domain-docs.js";
import { addCommandOptions, printJson, threadsFlag, trainingFlags, type CommonFlags, type TrainingFlags } from "../common.js";
import { startProgress, type Progress } from "../progress.js";

interface AddDomainFlags extends CommonFlags, TrainingFlags {
  name: string;
  store: string;
  experts: string;
  pilots?: string;
  idPrefix?: string;
}

export function addDomainCommand(): Command {
  return addCommandOptions(
    new Command("add-domain")
      .description("Add a domain from its documents alone: store them, train an expert on pseudo-queries, register it with routing evidence")
      .argument("<path>", "JSON-lines documents {id,title,text}, a BEIR dataset folder (corpus.jsonl), or a folder of .txt/.md files")
      .requiredOption("--name <name>", "the domain's name, also the expert's folder name")
      .requiredOption("--store <dir>", "store folder (created if absent)")
      .requiredOption("--experts <dir>", "folder of expert folders; the new expert is written here")
      .option("--pilots <file>", "pilot library file of the store's existing experts")
      .option("--id-prefix <p>", "prefix for document ids (default: '<name>/'; '' keeps ids as they are)"),
    // No --precision: the documents are embedded in fp32, the arithmetic the expert trains in.
    { precision: false, training: { ...DOMAIN_DEFAULTS, pairs: "pseudo-queries" }, cache: true, json: "the result as JSON", quiet: true },
  ).action(async (path: string, flags: AddDomainFlags) => {
    const t = trainingFlags(flags);
    const say = (m: string): void => {
      if (!flags.quiet) process.stderr.write(`add-domain: ${m}\n`);
    };
    const read = await readDomainDocuments(path);
    for (const f of read.skipped) say(`skipped ${f}: empty`);
    const prefix = flags.idPrefix ?? `${flags.name}/`;
    const documents = read.documents.map((d) => (prefix === "" || d.id.startsWith(prefix) ? d : { ...d, id: prefix + d.id }));
    say(`${documents.length} documents from ${read.description}`);
    const threads = threadsFlag(flags);
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
        ...t,
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
