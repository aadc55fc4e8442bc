/** The `routerretriever` command line: one sub-command per verb, errors as one clear line. */
import { Command } from "commander";
import { RouterRetrieverError } from "../errors.js";
import { addDomainCommand } from "./commands/add-domain.js";
import { embedCommand } from "./commands/embed.js";
import { evalCommand } from "./commands/eval.js";
import { indexCommand } from "./commands/index.js";
import { searchCommand } from "./commands/search.js";
import { serveCommand } from "./commands/serve.js";
import { trainExpertCommand } from "./commands/train-expert.js";
import { experimentCommand } from "./commands/experiment.js";

export function buildCli(): Command {
  const program = new Command("routerretriever")
    .description("RouterRetriever: routing over a mixture of LoRA expert embedding models, on a CPU")
    .version("0.1.0");
  for (const cmd of [embedCommand(), indexCommand(), searchCommand(), evalCommand(), trainExpertCommand(), experimentCommand(), serveCommand(), addDomainCommand()]) program.addCommand(cmd);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof RouterRetrieverError) {
      process.stderr.write(`routerretriever: ${err.code}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
