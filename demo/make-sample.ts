/**
 * Builds the out-of-the-box demo corpus: about 150 documents from each of four domains, drawn
 * with a fixed seed from ../shared/datasets, written to demo/corpus.jsonl (documents) and
 * demo/queries.jsonl (test queries whose relevant documents made it into the sample, so the
 * demo's example searches have something to find). The outputs are committed; this script only
 * needs to run again to change the sample.
 *
 *   npx tsx demo/make-sample.ts [--per-domain 150] [--seed 20250226]
 *
 * About 80% of each domain's share is documents judged relevant (test qrels, grade > 0) to some
 * sampled query; the rest are random other documents of that domain, as distractors.
 */
import { join } from "node:path";
import { loadCorpus, loadQrels, loadQueries, type Doc } from "../src/data/beir.js";
import { writeFileAtomic } from "../src/util/atomic.js";
import { projectRoot, sharedDatasetsDir } from "../src/util/paths.js";
import { rng, shuffled } from "../src/util/random.js";

const DOMAINS = ["scifact", "arguana", "cosqa", "cranfield"] as const;
/** arguana's documents run to thousands of characters; the demo keeps them readable. */
const MAX_TEXT = 2000;

interface SampleQuery {
  id: string;
  domain: string;
  text: string;
  relevant: string[];
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function sampleDomain(root: string, domain: string, perDomain: number, seed: number): Promise<{ docs: Doc[]; queries: SampleQuery[] }> {
  const dir = join(root, domain);
  const [corpus, queries, qrels] = await Promise.all([loadCorpus(dir), loadQueries(dir), loadQrels(dir, "test")]);
  const byId = new Map(corpus.map((d) => [d.id, d]));
  const rand = rng(seed);
  const relevantBudget = Math.round(perDomain * 0.8);
  const chosen = new Set<string>();
  const picked: SampleQuery[] = [];
  for (const q of shuffled(queries.filter((q) => qrels.has(q.id)), rand)) {
    const rel = [...qrels.get(q.id)!].filter(([id, g]) => g > 0 && byId.has(id) && id !== q.id).map(([id]) => id);
    const fresh = rel.filter((id) => !chosen.has(id));
    if (rel.length === 0 || chosen.size + fresh.length > relevantBudget) continue;
    fresh.forEach((id) => chosen.add(id));
    picked.push({ id: `${domain}/${q.id}`, domain, text: q.text, relevant: rel.map((id) => `${domain}/${id}`) });
    if (chosen.size >= relevantBudget) break;
  }
  for (const d of shuffled(corpus, rand)) {
    if (chosen.size >= perDomain) break;
    chosen.add(d.id);
  }
  // Corpus file order, so the sample reads like the source.
  const docs = corpus
    .filter((d) => chosen.has(d.id))
    .map((d) => ({ id: `${domain}/${d.id}`, title: d.title, text: d.text.length > MAX_TEXT ? d.text.slice(0, MAX_TEXT) + " …" : d.text }));
  return { docs, queries: picked };
}

async function main(): Promise<void> {
  const root = sharedDatasetsDir();
  if (!root) throw new Error("../shared/datasets not found (or set ROUTERRETRIEVER_DATASETS)");
  const perDomain = arg("--per-domain", 150);
  const seed = arg("--seed", 20250226);
  const docs: Doc[] = [];
  const queries: SampleQuery[] = [];
  for (const [i, domain] of DOMAINS.entries()) {
    const s = await sampleDomain(root, domain, perDomain, seed + i);
    docs.push(...s.docs);
    queries.push(...s.queries);
    console.error(`${domain}: ${s.docs.length} documents, ${s.queries.length} queries with relevant documents in the sample`);
  }
  const jsonl = (rows: readonly object[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  writeFileAtomic(join(projectRoot, "demo", "corpus.jsonl"), jsonl(docs));
  writeFileAtomic(join(projectRoot, "demo", "queries.jsonl"), jsonl(queries));
  console.error(`wrote ${docs.length} documents and ${queries.length} queries to demo/`);
}

await main();
