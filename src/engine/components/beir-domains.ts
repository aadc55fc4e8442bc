/**
 * Domain corpora for scoring a new expert on the pilot labels, read from a folder of BEIR
 * datasets (<dir>/<domain>/corpus.jsonl, ...). Each corpus is embedded by the base model once
 * and cached (vectors/encode-corpus.ts); the relevance judgments are rebuilt the way expert
 * training and pilot building read them (data/pairs.ts: train qrels, else the corpus's own
 * argument pairs, else generated queries, else pseudo-queries), so the labels' query ids find
 * their judgments.
 */
import { join } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import { loadCorpus } from "../../data/beir.js";
import { corpusVectors } from "../../vectors/encode-corpus.js";
import type { DomainCorpus } from "../../routing/pilots.js";
import { loadTrainingPairs, queriesFromPairs } from "../../data/pairs.js";
import { existsSync } from "node:fs";
import type { PilotDomainsProvider } from "./pilot-state.js";

export function beirDomainsProvider(datasetsDir: string, opts: { cacheDir?: string; seed?: number } = {}): PilotDomainsProvider {
  const loaded = new Map<string, DomainCorpus>();
  return async (names, base) => {
    const out: DomainCorpus[] = [];
    for (const name of names) {
      let c = loaded.get(name);
      if (!c) {
        const dir = join(datasetsDir, name);
        if (!existsSync(dir)) throw new RouterRetrieverError("NOT_FOUND", `no dataset folder for pilot domain "${name}" in ${datasetsDir}`);
        const { index } = await corpusVectors(base, await loadCorpus(dir), { cacheDir: opts.cacheDir });
        const { qrels } = queriesFromPairs((await loadTrainingPairs(dir, "auto", opts.seed ?? 0)).pairs);
        c = { name, index, qrels };
        loaded.set(name, c);
      }
      out.push(c);
    }
    return out;
  };
}
