/** Runs the CLI from the TypeScript sources (tests spawn it: node --import tsx test/support/cli-main.ts ARGS). */
import { main } from "../../src/cli/main.js";

await main(process.argv);
