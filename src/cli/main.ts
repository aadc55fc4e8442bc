/** The `routerretriever` command line: one sub-command per verb, errors as one clear line. */
import { Command, CommanderError } from "commander";
import { fromSystemError, RouterRetrieverError } from "../errors.js";
import { addDomainCommand } from "./commands/add-domain.js";
import { embedCommand } from "./commands/embed.js";
import { evalCommand } from "./commands/eval.js";
import { indexCommand } from "./commands/index.js";
import { searchCommand } from "./commands/search.js";
import { serveCommand } from "./commands/serve.js";
import { trainExpertCommand } from "./commands/train-expert.js";
import { experimentCommand } from "./commands/experiment.js";

/** Exit code for anything the user can fix: bad arguments, missing or damaged files, a full disk. */
export const EXIT_USAGE = 2;

export function buildCli(): Command {
  const program = new Command("routerretriever")
    .description("RouterRetriever: routing over a mixture of LoRA expert embedding models, on a CPU")
    .version("0.1.0");
  for (const cmd of [embedCommand(), indexCommand(), searchCommand(), evalCommand(), trainExpertCommand(), experimentCommand(), serveCommand(), addDomainCommand()]) program.addCommand(cmd);
  // Commander prints its own one-line usage errors; throwing instead of exiting lets main() set the code.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

/**
 * Runs the CLI. Every failure the user can act on (a RouterRetrieverError, an operating-system
 * error on a path they named, a usage error) is one line on stderr and exit code 2; anything else
 * is a bug, reported in one line with exit code 1 (the stack with ROUTERRETRIEVER_DEBUG=1).
 */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE; // help, version; or already printed
  const lib = err instanceof RouterRetrieverError ? err : fromSystemError(err);
  if (lib) {
    process.stderr.write(`routerretriever: ${lib.code}: ${oneLine(lib.message)}\n`);
    return EXIT_USAGE;
  }
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`routerretriever: internal error: ${oneLine(msg)} (a bug; ROUTERRETRIEVER_DEBUG=1 shows the stack)\n`);
  if (process.env.ROUTERRETRIEVER_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
  return 1;
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, " ");
