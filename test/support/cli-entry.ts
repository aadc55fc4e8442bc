/** The CLI from the TypeScript sources, for tests: node --import tsx test/support/cli-entry.ts <command> ... */
import { main } from "../../src/cli/main.js";

await main(process.argv);
