import { existsSync } from "node:fs";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root (where package.json is), found from this module's own location. */
export const projectRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The shared BEIR datasets folder (../shared/datasets beside the checkout), or the one named by
 * ROUTERRETRIEVER_DATASETS. Undefined when absent, so real-data tests can skip with a message.
 */
export function sharedDatasetsDir(): string | undefined {
  const dir = process.env.ROUTERRETRIEVER_DATASETS ?? resolve(projectRoot, "..", "shared", "datasets");
  return existsSync(dir) ? dir : undefined;
}

/** ../shared/golden beside the checkout, or the folder named by ROUTERRETRIEVER_GOLDEN; undefined when absent. */
export function sharedGoldenDir(): string | undefined {
  const dir = process.env.ROUTERRETRIEVER_GOLDEN ?? resolve(projectRoot, "..", "shared", "golden");
  return existsSync(dir) ? dir : undefined;
}
