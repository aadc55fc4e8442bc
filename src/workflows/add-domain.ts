/**
 * Bringing a new domain: from a user's documents to a routed expert, in one call. A workflow
 * over the engine's verbs and the trainer, so it sits above both (engine never imports training).
 *
 *   1. documents   embedded once by the base (through the corpus-vector cache) and committed to
 *                  the store chunk by chunk; documents already in the store are kept as they are
 *   2. train       a LoRA expert on pseudo-queries from the documents (data/pairs.ts: a title,
 *                  else a sentence), the recipe of results/train-experts.sh
 *   3. evidence    the domain's routing evidence (routing/evidence.ts): base and the expert
 *                  scored on the pseudo-queries against the domain's documents
 *   4. register    the finished folder moved into expertsDir and added with its evidence: the
 *                  domain's pilots join the library, nothing that exists is re-scored
 *
 * Searches keep running throughout (only the document commits and the final add take the
 * write lock). Interrupted work resumes: documents already stored are skipped, training
 * resumes from its last epoch checkpoint, and the expert folder only appears in expertsDir
 * complete with its routing.json (a service restarted meanwhile never sees half an expert).
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { documentText } from "../data/beir.js";
import { checkDocuments, commitDocuments } from "../engine/methods/add-documents.js";
import { addExpert } from "../engine/methods/add-expert.js";
import { engineState, type RouterRetriever } from "../engine/router-retriever.js";
import type { EngineState } from "../engine/state.js";
import type { AddExpertResult, DocumentInput, StoredDocument } from "../engine/types.js";
import { RouterRetrieverError } from "../errors.js";
import { checkExpertName } from "../experts/expert-dir.js";
import { evidenceLibrary } from "../routing/evidence.js";
import { writeExpertRoutingEvidence } from "../training/routing-evidence.js";
import { trainExpert } from "../training/trainer.js";
import { writeFileAtomic } from "../util/atomic.js";
import { corpusVectors } from "../vectors/encode-corpus.js";

export type DomainStage = "documents" | "train" | "evidence" | "register";

export interface AddDomainProgress {
  readonly stage: DomainStage;
  readonly done: number;
  readonly total: number;
  /** What `done` counts: docs, steps, queries. */
  readonly unit: string;
  /** A line worth showing on its own (an epoch's dev score, a stage's outcome). */
  readonly message?: string;
}

export interface AddDomainOptions {
  /** The domain's name, which is also the new expert's name (a plain folder name). */
  readonly name: string;
  readonly documents: readonly DocumentInput[];
  /** Training (defaults: the recipe the project's pseudo-query experts were trained with). */
  readonly epochs?: number;
  readonly patience?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  /** Pseudo-queries trained on (a seeded sample; default 2048). */
  readonly maxPairs?: number;
  readonly seed?: number;
  /** Pseudo-queries scored for the routing evidence (default 500). */
  readonly evidenceQueries?: number;
  /** ONNX Runtime threads for encoding and training (default 1). */
  readonly threads?: number;
  /** Corpus-vector cache folder (default ~/.cache/routerretriever). */
  readonly cacheDir?: string;
  readonly onProgress?: (p: AddDomainProgress) => void;
}

export interface AddDomainResult extends AddExpertResult {
  readonly domain: string;
  readonly documents: { readonly added: number; readonly alreadyStored: number; readonly skippedEmpty: number; readonly total: number };
  readonly training: { readonly pairs: number; readonly bestEpoch: number; readonly baseDevNdcg10: number; readonly bestDevNdcg10: number };
  readonly evidence: { readonly queries: number; readonly won: Readonly<Record<string, number>> };
  /** Wall-clock seconds per stage and in all. */
  readonly seconds: Readonly<Record<DomainStage | "total", number>>;
}

/**
 * Defaults: lr 1e-3 and batch 64 as results/train-experts.sh; a bounded budget of at most 3
 * epochs over at most 2,048 pseudo-queries, so a 5k-document folder trains in minutes on a
 * CPU. Why that is enough: cranfield's pseudo-query expert (results/logs/v1-in-batch/train-cranfield-pseudo.json,
 * 10 epochs allowed) gained 71% of its best dev improvement in epoch 1 and 74% by epoch 2.
 */
export const DEFAULTS = { epochs: 3, patience: 2, batchSize: 64, lr: 1e-3, seed: 0, evidenceQueries: 500, maxPairs: 2048 };
const COMMIT_CHUNK = 256;

/** Domains being added, per open store: a second add of the same name is refused, not raced. */
const running = new WeakMap<EngineState, Set<string>>();

/**
 * A new domain from its documents alone, on an open RouterRetriever. Minutes of work; the
 * RouterRetriever keeps answering searches meanwhile.
 */
export async function addDomain(rr: RouterRetriever, o: AddDomainOptions): Promise<AddDomainResult> {
  const s = engineState(rr);
  const name = checkExpertName(o.name);
  const busy = running.get(s) ?? new Set<string>();
  running.set(s, busy);
  if (busy.has(name)) throw new RouterRetrieverError("CONFLICT", `domain "${name}" is already being added`);
  busy.add(name);
  try {
    return await addDomainOnce(s, name, o);
  } finally {
    busy.delete(name);
  }
}

async function addDomainOnce(s: EngineState, name: string, o: AddDomainOptions): Promise<AddDomainResult> {
  if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
  if (s.experts.has(name)) throw new RouterRetrieverError("CONFLICT", `expert "${name}" is already active; remove it or choose another domain name`);
  // A new expert is trained into the experts folder, so there must be one (it is optional for
  // stores that hold their experts themselves).
  if (s.expertsDir === undefined) throw new RouterRetrieverError("BAD_INPUT", "adding a domain needs an experts folder (expertsDir / --experts) to train the expert into");
  const expertsDir = s.expertsDir;
  const finalDir = join(expertsDir, name);
  if (existsSync(finalDir)) throw new RouterRetrieverError("CONFLICT", `${finalDir} already exists: add it as an expert, or choose another domain name`);
  // A document with neither title nor text has nothing to embed or to train on: skipped and
  // counted (real collections have them: cranfield's document 471), not a reason to refuse the rest.
  const empty = o.documents.filter((d) => typeof d === "object" && d !== null && typeof d.text === "string" && d.text.trim() === "" && (d.title ?? "").trim() === "");
  const docs = checkDocuments(empty.length > 0 ? o.documents.filter((d) => !empty.includes(d)) : o.documents);
  if (docs.length < 2) throw new RouterRetrieverError("BAD_INPUT", `a domain needs at least 2 documents to train on, got ${docs.length}`);
  const storedIds = await s.store.existing(docs.map((d) => d.id));
  const stored = docs.filter((d) => storedIds.has(d.id));
  for (const d of stored) {
    const have = (await s.store.get(d.id))!;
    if (have.title !== d.title || have.text !== d.text) {
      throw new RouterRetrieverError("CONFLICT", `document id "${d.id}" is already in the store with other text; give this domain's documents their own ids (e.g. a "${name}/" prefix)`);
    }
  }
  const progress = (p: AddDomainProgress): void => o.onProgress?.(p);
  const threads = o.threads ?? 1;
  const seconds: Record<DomainStage | "total", number> = { documents: 0, train: 0, evidence: 0, register: 0, total: 0 };
  const t0 = performance.now();
  let mark = t0;
  const lap = (stage: DomainStage): void => {
    const now = performance.now();
    seconds[stage] = (now - mark) / 1000;
    mark = now;
  };

  // Work folder: the domain as a BEIR corpus (what training reads) and the expert being made.
  // Hidden (leading dot), so expert discovery never sees it.
  const work = join(expertsDir, `.${name}.domain`);
  mkdirSync(work, { recursive: true });
  const stagedExpert = join(work, "expert");

  // 1. Documents: one encode, shared by the store and training through the vector cache.
  progress({ stage: "documents", done: 0, total: docs.length, unit: "docs" });
  const cached = await corpusVectors(s.base, docs.map((d) => ({ id: d.id, text: documentText(d) })), {
    cacheDir: o.cacheDir,
    onProgress: (p) => progress({ stage: "documents", done: p.done, total: docs.length, unit: "docs" }),
  });
  const fresh = docs.filter((d) => !storedIds.has(d.id));
  await commitDocuments(s, fresh, COMMIT_CHUNK, async (part) => vectorsOf(cached.index, part, s.base.dims));
  writeFileAtomic(join(work, "corpus.jsonl"), docs.map((d) => JSON.stringify({ _id: d.id, title: d.title, text: d.text })).join("\n") + "\n");
  progress({ stage: "documents", done: docs.length, total: docs.length, unit: "docs", message: `${fresh.length} documents added to the store (${stored.length} were already there${empty.length > 0 ? `; ${empty.length} empty ones skipped: ${empty.slice(0, 3).map((d) => d.id).join(", ")}${empty.length > 3 ? ", ..." : ""}` : ""})` });
  lap("documents");

  // 2. Train on pseudo-queries (resumes from <stagedExpert>.checkpoint after an interruption).
  const seed = o.seed ?? DEFAULTS.seed;
  let pairs = 0;
  const res = await trainExpert(s.model, {
    datasetDirs: [work],
    expertId: name,
    domain: name,
    outDir: stagedExpert,
    source: "pseudo",
    epochs: o.epochs ?? DEFAULTS.epochs,
    patience: o.patience ?? DEFAULTS.patience,
    batchSize: o.batchSize ?? DEFAULTS.batchSize,
    lr: o.lr ?? DEFAULTS.lr,
    maxPairs: o.maxPairs ?? DEFAULTS.maxPairs,
    seed,
    threads,
    cacheDir: o.cacheDir,
    onEvent: (e) => {
      if (e.kind === "start") pairs = e.pairs;
      if (e.kind === "start") progress({ stage: "train", done: e.resumedEpoch * e.stepsPerEpoch, total: e.totalSteps, unit: "steps", message: `${e.pairs} pseudo-query pairs, ${e.devQueries} held out for dev; base dev nDCG@10 ${e.baseDevNdcg10.toFixed(4)}` });
      else if (e.kind === "step") progress({ stage: "train", done: e.step, total: e.totalSteps, unit: "steps" });
      else if (e.kind === "epoch") progress({ stage: "train", done: 0, total: 0, unit: "steps", message: `epoch ${e.epoch}: dev nDCG@10 ${e.devNdcg10.toFixed(4)}${e.improved ? " (best so far)" : ""}` });
    },
  });
  lap("train");

  // 3. Routing evidence over exactly the domain's documents (vectors from the cache).
  const ev = await writeExpertRoutingEvidence(s.model, res.expert, stagedExpert, {
    datasetDir: work,
    domain: name,
    source: "pseudo",
    seed,
    maxQueries: o.evidenceQueries ?? DEFAULTS.evidenceQueries,
    threads,
    index: cached.index,
    onProgress: (p) => progress({ stage: "evidence", done: p.candidate === "base" ? p.done : p.total + p.done, total: 2 * p.total, unit: "queries" }),
  });
  const won: Record<string, number> = {};
  for (const p of evidenceLibrary(ev).pilots) won[p.expert] = p.size;
  progress({ stage: "evidence", done: 1, total: 1, unit: "queries", message: `${ev.items.length} pseudo-queries scored; won by ${Object.entries(won).map(([e, n]) => `${e} ${n}`).join(", ")}` });
  lap("evidence");

  // 4. Register: the complete folder appears in expertsDir in one rename, then is added.
  progress({ stage: "register", done: 0, total: 1, unit: "experts" });
  renameSync(stagedExpert, finalDir);
  const added = await addExpert(s, name);
  rmSync(work, { recursive: true, force: true });
  progress({ stage: "register", done: 1, total: 1, unit: "experts", message: `expert "${name}" active with ${added.expert.pilots} pilots` });
  lap("register");
  seconds.total = (performance.now() - t0) / 1000;

  return {
    ...added,
    domain: name,
    documents: { added: fresh.length, alreadyStored: stored.length, skippedEmpty: empty.length, total: await s.store.count() },
    training: { pairs, bestEpoch: res.bestEpoch, baseDevNdcg10: res.baseDevNdcg10, bestDevNdcg10: res.bestDevNdcg10 },
    evidence: { queries: ev.items.length, won },
    seconds,
  };
}

function vectorsOf(index: { get(id: string): Float32Array | undefined }, docs: readonly StoredDocument[], dims: number): Float32Array {
  const out = new Float32Array(docs.length * dims);
  docs.forEach((d, i) => {
    const v = index.get(d.id);
    if (!v) throw new RouterRetrieverError("INTERNAL", `document "${d.id}" has no vector in the corpus cache`);
    out.set(v, i * dims);
  });
  return out;
}
