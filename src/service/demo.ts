/**
 * Where the out-of-the-box demo lives: the committed sample corpus and (once trained) experts
 * and pilot library under demo/, and a store built from them on first run in the user's cache.
 */
import { join } from "node:path";
import { defaultCacheDir } from "../vectors/encode-corpus.js";
import { projectRoot } from "../util/paths.js";

export interface DemoPaths {
  readonly storeDir: string;
  readonly expertsDir: string;
  readonly pilotsPath: string;
  readonly corpusPath: string;
}

export function demoPaths(): DemoPaths {
  const demo = join(projectRoot, "demo");
  return {
    storeDir: join(defaultCacheDir(), "demo-store"),
    expertsDir: join(demo, "experts"),
    pilotsPath: join(demo, "pilots.json"),
    corpusPath: join(demo, "corpus.jsonl"),
  };
}
