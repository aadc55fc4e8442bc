/**
 * Trains one query-side LoRA expert (METHOD.md): InfoNCE with in-batch negatives against the
 * frozen base's document vectors (the cached corpus index), AdamW with linear warm-up and
 * decay, LoRA dropout, nDCG@10 on a dev set after every epoch, early stopping with patience,
 * and the best epoch's adapter saved in PEFT's layout.
 *
 * Deterministic for a seed: the epoch's shuffle and each step's dropout masks are derived from
 * (seed, epoch, step), so a run resumed from a checkpoint takes exactly the same steps as an
 * uninterrupted one. A checkpoint (adapter + optimiser moments + history) is committed after
 * every epoch; state.json is written last and is the commit point.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import { documentText, loadCorpus } from "../data/beir.js";
import { retrieve, RUN_DEPTH } from "../evaluation/evaluate.js";
import { evaluateRun } from "../evaluation/metrics.js";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import { initLora } from "../experts/init.js";
import { saveExpert } from "../experts/peft.js";
import type { LoraConfig, LoraExpert, LoraMatrices } from "../experts/types.js";
import { CompiledGraph, type Feed } from "../graph/session.js";
import { corpusVectors } from "../vectors/encode-corpus.js";
import type { VectorIndex } from "../vectors/store.js";
import { Encoder, positionIds, type LoadedModel } from "../model/encoder.js";
import { readSafetensors, writeSafetensors, type Tensor } from "../model/safetensors.js";
import { makeBatches } from "../model/tokenizer.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { rng, shuffled } from "../util/random.js";
import { buildTrainingGraph } from "./loss-graph.js";
import { adamWStep, DEFAULT_ADAMW, initAdamW, linearWarmupDecay, type AdamWState } from "./optim.js";
import { devFromSplit, holdOutDev, loadTrainingPairs, type DevSet, type TrainingPair, type TrainingSource } from "../data/pairs.js";

export interface TrainExpertOptions {
  /** One BEIR dataset folder, or several for a Multi-Task expert. */
  readonly datasetDirs: readonly string[];
  /** Multi-Task: down-sample every domain's pairs to the smallest domain's count (METHOD.md). */
  readonly balance?: boolean;
  readonly expertId: string;
  /** The expert's PEFT folder. Resumable state lives beside it in `<outDir>.checkpoint/`. */
  readonly outDir: string;
  readonly source?: TrainingSource | "auto";
  readonly lora?: Partial<LoraConfig>;
  readonly temperature?: number;
  /**
   * The softmax's negatives: "corpus" (default) = every document of the domain's corpus (the
   * documents are frozen cached vectors, so this costs one [batch, d] x [d, corpus] product);
   * "in-batch" = the other rows' positives only (the paper's loss).
   */
  readonly negatives?: Negatives;
  readonly lr?: number;
  readonly weightDecay?: number;
  readonly warmupFraction?: number;
  readonly batchSize?: number;
  readonly epochs?: number;
  readonly patience?: number;
  readonly seed?: number;
  /** Cap on training pairs (a random subset), for quick runs. */
  readonly maxPairs?: number;
  /** Held-out share of training queries when the dataset has no dev split. */
  readonly devFraction?: number;
  readonly devMaxQueries?: number;
  readonly threads?: number;
  readonly cacheDir?: string;
  readonly domain?: string;
  readonly onEvent?: (e: TrainEvent) => void;
}

export type TrainEvent =
  | { readonly kind: "setup"; readonly message: string }
  | { readonly kind: "corpus"; readonly done: number; readonly total: number }
  | { readonly kind: "start"; readonly totalSteps: number; readonly stepsPerEpoch: number; readonly pairs: number; readonly devQueries: number; readonly baseDevNdcg10: number; readonly resumedEpoch: number }
  | { readonly kind: "step"; readonly step: number; readonly totalSteps: number; readonly epoch: number; readonly loss: number; readonly lr: number; readonly pairsPerSec: number; readonly stepSeconds: number }
  | { readonly kind: "epoch"; readonly epoch: number; readonly devNdcg10: number; readonly meanLoss: number; readonly improved: boolean; readonly seconds: number };

export interface EpochRecord {
  readonly epoch: number;
  readonly meanLoss: number;
  readonly devNdcg10: number;
  readonly seconds: number;
}

export interface TrainResult {
  readonly expert: LoraExpert;
  readonly history: readonly EpochRecord[];
  readonly bestEpoch: number;
  readonly baseDevNdcg10: number;
  readonly bestDevNdcg10: number;
  readonly trainSeconds: number;
  readonly secondsToBest: number;
  readonly meanStepSeconds: number;
  readonly pairsPerSec: number;
}

interface CheckpointState {
  readonly version: 1;
  readonly fingerprint: string;
  readonly epoch: number;
  readonly step: number;
  readonly adamStep: number;
  readonly history: EpochRecord[];
  readonly bestEpoch: number;
  readonly bestDevNdcg10: number;
  readonly baseDevNdcg10: number;
  readonly trainSeconds: number;
  readonly secondsToBest: number;
  readonly stepSeconds: number[];
  readonly weightsFile: string;
  readonly bestFile: string;
}

export type Negatives = "corpus" | "in-batch";
export const NEGATIVES: readonly Negatives[] = ["corpus", "in-batch"];

/** At a few hundred CPU steps, the paper's 1e-4 leaves the zero-initialised B matrices near zero (README). */
export const DEFAULT_LR = 1e-3;

export const DEFAULT_LORA: LoraConfig = { rank: 8, alpha: 32, dropout: 0.1, targetModules: ["query", "value"] };

export async function trainExpert(model: LoadedModel, o: TrainExpertOptions): Promise<TrainResult> {
  const emit = o.onEvent ?? (() => {});
  const seed = o.seed ?? 0;
  const lora: LoraConfig = { ...DEFAULT_LORA, ...o.lora };
  const batchSize = o.batchSize ?? 64;
  const epochs = o.epochs ?? 10;
  const patience = o.patience ?? 3;
  const temperature = o.temperature ?? 0.05;
  const negatives: Negatives = o.negatives ?? "corpus";
  const adamCfg = { ...DEFAULT_ADAMW, lr: o.lr ?? DEFAULT_LR, weightDecay: o.weightDecay ?? 0 };

  // Data per domain: pairs, dev set, and the frozen base's document vectors.
  if (o.datasetDirs.length === 0) throw new RouterRetrieverError("BAD_INPUT", "trainExpert: no dataset given");
  const baseEncoder = await Encoder.create(model, { threads: o.threads });
  const domains: Domain[] = [];
  for (const dir of o.datasetDirs) domains.push(await prepareDomain(dir, baseEncoder, o, seed, emit));
  await baseEncoder.close();
  if (o.balance && domains.length > 1) {
    const smallest = Math.min(...domains.map((d) => d.pairs.length));
    for (const d of domains) d.pairs = shuffled(d.pairs, rng(seed + 29)).slice(0, smallest);
    emit({ kind: "setup", message: `balanced: ${smallest} pairs from each of ${domains.length} domains` });
  }
  const pairs: DomainPair[] = domains.flatMap((d, di) => d.pairs.map((p) => ({ ...p, domain: di })));
  if (pairs.length < 2) throw new RouterRetrieverError("BAD_INPUT", `${o.datasetDirs.join(", ")}: fewer than 2 training pairs whose document is in the corpus`);
  const description = domains.map((d) => d.description).join(" + ");

  // Graphs: the training graph (forward + InfoNCE + generated backward) and a stacked-LoRA encoder for dev.
  emit({ kind: "setup", message: "building the training graph" });
  const tg = buildTrainingGraph(model.spec, model.weights, { rank: lora.rank, alpha: lora.alpha, targets: lora.targetModules, temperature });
  const session = await CompiledGraph.create(tg.bert.graph, { threads: o.threads });
  const devEncoder = await ExpertEncoder.create(model, [], { threads: o.threads, targets: lora.targetModules });
  const modules = tg.bert.lora;

  const tokenized = model.tokenizer;
  const queryTokens = new Map<string, number[]>();
  for (const p of pairs) if (!queryTokens.has(queryKey(p))) queryTokens.set(queryKey(p), tokenized.encode(p.query));

  const corpusNeg = negatives === "corpus" ? corpusNegatives(domains, pairs) : undefined;

  const stepsPerEpoch = Math.ceil(pairs.length / batchSize);
  const totalSteps = stepsPerEpoch * epochs;

  // State: fresh, or resumed from the last committed checkpoint of an identical configuration.
  const fingerprint = JSON.stringify({ data: description, balance: o.balance ?? false, pairs: pairs.length, lora, batchSize, epochs, temperature, negatives, adamCfg, seed, warm: o.warmupFraction ?? 0.1, model: model.spec.id });
  const ckptDir = `${o.outDir.replace(/[\\/]+$/, "")}.checkpoint`;
  let weights = initLora(model, lora, seed);
  const params = (): Float32Array[] => modules.flatMap((m) => [weights.get(m.module)!.A as Float32Array, weights.get(m.module)!.B as Float32Array]);
  let adam: AdamWState = initAdamW(params());
  const asExpert = (w: ReadonlyMap<string, LoraMatrices>): LoraExpert => ({ id: o.expertId, config: lora, baseModelId: model.spec.id, weights: w, meta: {} });
  const devScore = async (expert: LoraExpert | undefined): Promise<number> => {
    devEncoder.setExperts(expert ? [expert] : []);
    // Multi-Task: the mean over domains, so a large domain cannot drown the others.
    let sum = 0;
    for (const d of domains) sum += await devNdcg10(devEncoder, d.index, d.dev, expert ? expert.id : "base");
    return sum / domains.length;
  };

  let state: CheckpointState;
  const statePath = join(ckptDir, "state.json");
  const prior = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, "utf8")) as CheckpointState) : undefined;
  if (prior && prior.fingerprint === fingerprint) {
    weights = readWeights(join(ckptDir, prior.weightsFile), modules.map((m) => m.module));
    adam = readAdam(join(ckptDir, prior.weightsFile.replace(".lora.", ".adam.")), params(), prior.adamStep);
    state = prior;
    emit({ kind: "setup", message: `resuming after epoch ${prior.epoch} (best dev nDCG@10 ${prior.bestDevNdcg10.toFixed(4)} at epoch ${prior.bestEpoch})` });
  } else {
    if (prior) emit({ kind: "setup", message: "checkpoint is from a different configuration; starting over" });
    const base = await devScore(undefined);
    state = { version: 1, fingerprint, epoch: 0, step: 0, adamStep: 0, history: [], bestEpoch: 0, bestDevNdcg10: base, baseDevNdcg10: base, trainSeconds: 0, secondsToBest: 0, stepSeconds: [], weightsFile: "", bestFile: "" };
  }
  emit({ kind: "start", totalSteps, stepsPerEpoch, pairs: pairs.length, devQueries: domains.reduce((n, d) => n + d.dev.queries.size, 0), baseDevNdcg10: state.baseDevNdcg10, resumedEpoch: state.epoch });

  let stale = state.history.length - state.bestEpoch;
  for (let epoch = state.epoch + 1; epoch <= epochs && stale < patience; epoch++) {
    const t0 = performance.now();
    const order = shuffled(pairs, rng(seed * 1_000_003 + epoch));
    let lossSum = 0;
    let step = state.step;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const ts = performance.now();
      const batch = order.slice(s * batchSize, (s + 1) * batchSize);
      if (batch.length < 2) continue; // InfoNCE needs at least one in-batch negative
      const feeds = stepFeeds(batch, queryTokens, domains, corpusNeg, modules, weights, lora.dropout, tokenized.padId, rng(seed * 7919 + step * 31 + 1));
      const out = await session.run(feeds);
      const loss = (out[tg.loss.name]!.data as Float32Array)[0]!;
      if (!Number.isFinite(loss)) throw new RouterRetrieverError("INTERNAL", `training diverged: loss ${loss} at step ${step}`);
      const grads = tg.grads.flatMap((gr) => [out[gr.dA.name]!.data as Float32Array, out[gr.dB.name]!.data as Float32Array]);
      const lr = linearWarmupDecay(adamCfg.lr, step, totalSteps, o.warmupFraction ?? 0.1);
      adamWStep(params(), grads, adam, adamCfg, lr);
      step++;
      lossSum += loss;
      const sec = (performance.now() - ts) / 1000;
      state.stepSeconds.push(sec);
      emit({ kind: "step", step, totalSteps, epoch, loss, lr, pairsPerSec: batch.length / sec, stepSeconds: sec });
    }
    const devNdcg10 = await devScore(asExpert(weights));
    const seconds = (performance.now() - t0) / 1000;
    const record: EpochRecord = { epoch, meanLoss: lossSum / stepsPerEpoch, devNdcg10, seconds };
    const improved = devNdcg10 > state.bestDevNdcg10;
    const trainSeconds = state.trainSeconds + seconds;
    const weightsFile = `epoch-${epoch}.lora.safetensors`;
    writeWeights(join(ckptDir, weightsFile), weights);
    writeAdam(join(ckptDir, weightsFile.replace(".lora.", ".adam.")), adam);
    state = {
      ...state,
      epoch,
      step,
      adamStep: adam.step,
      history: [...state.history, record],
      bestEpoch: improved ? epoch : state.bestEpoch,
      bestDevNdcg10: improved ? devNdcg10 : state.bestDevNdcg10,
      trainSeconds,
      secondsToBest: improved ? trainSeconds : state.secondsToBest,
      weightsFile,
      bestFile: improved ? weightsFile : state.bestFile,
    };
    writeJsonAtomic(statePath, state);
    pruneCheckpoints(ckptDir, [state.weightsFile, state.bestFile], epoch);
    stale = improved ? 0 : stale + 1;
    emit({ kind: "epoch", epoch, devNdcg10, meanLoss: record.meanLoss, improved, seconds });
  }

  // The best epoch wins; if no epoch beat the base on dev, the best is the untouched init (B = 0: the base).
  const bestWeights = state.bestFile ? readWeights(join(ckptDir, state.bestFile), modules.map((m) => m.module)) : initLora(model, lora, seed);
  const meanStep = state.stepSeconds.reduce((a, b) => a + b, 0) / Math.max(1, state.stepSeconds.length);
  const expert: LoraExpert = {
    ...asExpert(bestWeights),
    meta: {
      domain: o.domain ?? o.expertId,
      training: {
        description,
        sources: domains.map((d) => d.source),
        pairs: pairs.length,
        balanced: o.balance ?? false,
        dev: domains.map((d) => d.dev.description).join(" + "),
        batchSize,
        epochs,
        bestEpoch: state.bestEpoch,
        lr: adamCfg.lr,
        temperature,
        negatives,
        rank: lora.rank,
        targets: [...lora.targetModules],
        seed,
        history: state.history.map((h) => ({ ...h })),
      },
      metrics: { devNdcg10: state.bestDevNdcg10, baseDevNdcg10: state.baseDevNdcg10, trainSeconds: state.trainSeconds, secondsToBest: state.secondsToBest, meanStepSeconds: meanStep },
    },
  };
  saveExpert(o.outDir, expert);
  await session.release();
  await devEncoder.close();
  return {
    expert,
    history: state.history,
    bestEpoch: state.bestEpoch,
    baseDevNdcg10: state.baseDevNdcg10,
    bestDevNdcg10: state.bestDevNdcg10,
    trainSeconds: state.trainSeconds,
    secondsToBest: state.secondsToBest,
    meanStepSeconds: meanStep,
    pairsPerSec: batchSize / meanStep,
  };
}

interface Domain {
  readonly dir: string;
  pairs: TrainingPair[];
  readonly dev: DevSet;
  readonly index: VectorIndex;
  /** Documents whose text is identical to another document's: id -> the ids sharing its text. */
  readonly twins: ReadonlyMap<string, readonly string[]>;
  readonly description: string;
  readonly source: TrainingSource;
}

type DomainPair = TrainingPair & { readonly domain: number };

function queryKey(p: DomainPair): string {
  return `${p.domain}:${p.queryId}`;
}

/** One domain's pairs (minus the dev hold-out), its dev set, and its cached corpus vectors. */
async function prepareDomain(dir: string, baseEncoder: Encoder, o: TrainExpertOptions, seed: number, emit: (e: TrainEvent) => void): Promise<Domain> {
  emit({ kind: "setup", message: `loading ${dir}` });
  const corpus = await loadCorpus(dir);
  const loaded = await loadTrainingPairs(dir, o.source ?? "auto", seed);
  let pairs = loaded.pairs;
  let dev = await devFromSplit(dir);
  if (!dev) {
    const held = holdOutDev(pairs, o.devFraction ?? 0.1, o.devMaxQueries ?? 200, seed);
    pairs = held.train;
    dev = held.dev;
  }
  if (o.maxPairs !== undefined && pairs.length > o.maxPairs) pairs = shuffled(pairs, rng(seed + 17)).slice(0, o.maxPairs);
  const index = (
    await corpusVectors(baseEncoder, corpus.map((d) => ({ id: d.id, text: documentText(d) })), {
      cacheDir: o.cacheDir,
      onProgress: (p) => emit({ kind: "corpus", done: p.done, total: p.total }),
    })
  ).index;
  const missing = pairs.filter((p) => !index.has(p.docId)).length;
  if (missing > 0) emit({ kind: "setup", message: `${dir}: dropped ${missing} pairs whose document is not in the corpus` });
  const byText = new Map<string, string[]>();
  for (const d of corpus) {
    const t = documentText(d);
    const ids = byText.get(t);
    if (ids) ids.push(d.id);
    else byText.set(t, [d.id]);
  }
  const twins = new Map<string, string[]>();
  for (const ids of byText.values()) if (ids.length > 1) for (const id of ids) twins.set(id, ids);
  if (twins.size > 0) emit({ kind: "setup", message: `${dir}: ${twins.size} of ${corpus.length} documents share their text with another; a positive's twins are never its negatives` });
  return { dir, pairs: pairs.filter((p) => index.has(p.docId)), dev, index, twins, description: loaded.description, source: loaded.source };
}

/** The whole-corpus softmax's fixed inputs: every domain's vectors as one matrix, and per row what to mask. */
interface CorpusNegatives {
  readonly vectors: Float32Array;
  readonly docs: number;
  /** domain:docId -> row of `vectors`. */
  readonly row: ReadonlyMap<string, number>;
  /** query key -> rows that must not be a negative for any of its pairs: all its positives and their twins. */
  readonly positives: ReadonlyMap<string, readonly number[]>;
}

function corpusNegatives(domains: readonly Domain[], pairs: readonly DomainPair[]): CorpusNegatives {
  const dims = domains[0]!.index.dims;
  const docs = domains.reduce((n, d) => n + d.index.size, 0);
  const vectors = new Float32Array(docs * dims);
  const row = new Map<string, number>();
  let off = 0;
  domains.forEach((d, di) => {
    vectors.set(d.index.vectors.subarray(0, d.index.size * dims), off * dims);
    d.index.ids.forEach((id, i) => row.set(`${di}:${id}`, off + i));
    off += d.index.size;
  });
  const positives = new Map<string, Set<number>>();
  for (const p of pairs) {
    const key = queryKey(p);
    let set = positives.get(key);
    if (!set) positives.set(key, (set = new Set()));
    for (const id of domains[p.domain]!.twins.get(p.docId) ?? [p.docId]) set.add(row.get(`${p.domain}:${id}`)!);
  }
  return { vectors, docs, row, positives: new Map([...positives].map(([k, v]) => [k, [...v]])) };
}

function stepFeeds(
  batch: readonly DomainPair[],
  queryTokens: ReadonlyMap<string, number[]>,
  domains: readonly Domain[],
  corpusNeg: CorpusNegatives | undefined,
  modules: ReadonlyArray<{ module: string; inFeatures: number; outFeatures: number; A: { name: string }; B: { name: string }; dropoutMask?: { name: string } }>,
  weights: ReadonlyMap<string, LoraMatrices>,
  dropout: number,
  padId: number,
  rand: () => number,
): Record<string, Feed> {
  const [b] = makeBatches(batch.map((p) => queryTokens.get(queryKey(p))!), padId, batch.length);
  const rows = b!.rows.map((r) => batch[r]!);
  const n = rows.length;
  const d = domains[0]!.index.dims;
  let docs: Float32Array;
  let m: number;
  let labels: Float32Array;
  let mask: Float32Array;
  if (corpusNeg) {
    // Row i's label is its pair's document; its query's other positives (and twins) leave the softmax.
    docs = corpusNeg.vectors;
    m = corpusNeg.docs;
    labels = new Float32Array(n * m);
    mask = new Float32Array(n * m);
    rows.forEach((p, i) => {
      const own = corpusNeg.row.get(`${p.domain}:${p.docId}`)!;
      labels[i * m + own] = 1;
      for (const r of corpusNeg.positives.get(queryKey(p))!) if (r !== own) mask[i * m + r] = -1e9;
    });
  } else {
    m = n;
    docs = new Float32Array(n * d);
    rows.forEach((p, i) => docs.set(domains[p.domain]!.index.get(p.docId)!, i * d));
    labels = new Float32Array(n * n);
    mask = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      labels[i * n + i] = 1;
      for (let j = 0; j < n; j++) if (j !== i && rows[j]!.docId === rows[i]!.docId && rows[j]!.domain === rows[i]!.domain) mask[i * n + j] = -1e9;
    }
  }
  const feeds: Record<string, Feed> = {
    input_ids: { data: b!.inputIds, dims: [n, b!.seqLen] },
    attention_mask: { data: b!.attentionMask, dims: [n, b!.seqLen] },
    position_ids: { data: positionIds(b!.seqLen), dims: [b!.seqLen] },
    doc_vectors: { data: docs, dims: [m, d] },
    labels: { data: labels, dims: [n, m] },
    logit_mask: { data: mask, dims: [n, m] },
  };
  const keep = 1 / (1 - dropout);
  for (const m of modules) {
    const w = weights.get(m.module)!;
    const r = w.A.length / m.inFeatures;
    feeds[m.A.name] = { data: w.A, dims: [r, m.inFeatures] };
    feeds[m.B.name] = { data: w.B, dims: [m.outFeatures, r] };
    const dm = new Float32Array(n * b!.seqLen * m.inFeatures);
    for (let i = 0; i < dm.length; i++) dm[i] = rand() < dropout ? 0 : keep;
    feeds[m.dropoutMask!.name] = { data: dm, dims: [n, b!.seqLen, m.inFeatures] };
  }
  return feeds;
}

/** nDCG@10 of one expert (or "base") on the dev queries, searching the whole corpus. */
async function devNdcg10(enc: ExpertEncoder, index: VectorIndex, dev: DevSet, expertId: string): Promise<number> {
  const ids = [...dev.queries.keys()];
  const vecs = await enc.encode(ids.map((q) => dev.queries.get(q)!), expertId);
  const run = retrieve(index, ids, vecs, RUN_DEPTH, false);
  return evaluateRun(dev.qrels, run, { ks: [10], ignoreIdenticalIds: false }).mean["ndcg@10"] ?? 0;
}

function writeWeights(path: string, w: ReadonlyMap<string, LoraMatrices>): void {
  const t = new Map<string, Tensor>();
  for (const [m, { A, B }] of w) {
    t.set(`${m}.A`, { shape: [A.length], data: A });
    t.set(`${m}.B`, { shape: [B.length], data: B });
  }
  writeSafetensors(path, t);
}

function readWeights(path: string, modules: readonly string[]): Map<string, LoraMatrices> {
  const t = readSafetensors(path).tensors;
  const out = new Map<string, LoraMatrices>();
  for (const m of modules) {
    const A = t.get(`${m}.A`);
    const B = t.get(`${m}.B`);
    if (!A || !B) throw new RouterRetrieverError("PARSE_ERROR", `${path}: checkpoint lacks module ${m}`);
    out.set(m, { A: A.data, B: B.data });
  }
  return out;
}

function writeAdam(path: string, s: AdamWState): void {
  const t = new Map<string, Tensor>();
  s.m.forEach((m, i) => t.set(`m.${i}`, { shape: [m.length], data: m }));
  s.v.forEach((v, i) => t.set(`v.${i}`, { shape: [v.length], data: v }));
  writeSafetensors(path, t);
}

function readAdam(path: string, params: readonly Float32Array[], step: number): AdamWState {
  const t = readSafetensors(path).tensors;
  const get = (k: string, n: number): Float32Array => {
    const x = t.get(k);
    if (!x || x.data.length !== n) throw new RouterRetrieverError("PARSE_ERROR", `${path}: optimiser state ${k} is missing or has the wrong size`);
    return x.data;
  };
  return { step, m: params.map((p, i) => get(`m.${i}`, p.length)), v: params.map((p, i) => get(`v.${i}`, p.length)) };
}

/** Keeps the files the committed state names; older epochs' files go. */
function pruneCheckpoints(dir: string, keep: readonly string[], epoch: number): void {
  for (let e = 1; e < epoch; e++) {
    const f = `epoch-${e}.lora.safetensors`;
    if (keep.includes(f)) continue;
    rmSync(join(dir, f), { force: true });
    rmSync(join(dir, f.replace(".lora.", ".adam.")), { force: true });
  }
}
