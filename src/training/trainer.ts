/**
 * Trains one query-side LoRA expert (METHOD.md): InfoNCE against the frozen base's document
 * vectors (the cached corpus index; whole-corpus or in-batch negatives), AdamW with linear
 * warm-up and decay, LoRA dropout, nDCG@10 on a dev set after every epoch, early stopping with
 * patience, and the best epoch's adapter saved in PEFT's layout. This file is the loop; data
 * preparation is data.ts, a step's feeds batch.ts, checkpoints checkpoint.ts.
 *
 * Deterministic for a seed: the epoch's shuffle and each step's dropout masks are derived from
 * (seed, epoch, step), so a run resumed from a checkpoint takes exactly the same steps as an
 * uninterrupted one. A checkpoint (adapter + optimiser moments + history) is committed after
 * every epoch; state.json is written last and is the commit point.
 */
import { RouterRetrieverError } from "../errors.js";
import type { DevSet, TrainingSource } from "../data/pairs.js";
import { retrieve, RUN_DEPTH } from "../evaluation/evaluate.js";
import { evaluateRun } from "../evaluation/metrics.js";
import { ExpertEncoder } from "../experts/expert-encoder.js";
import { initLora } from "../experts/init.js";
import { saveExpert } from "../experts/peft.js";
import { BASE, DEFAULT_LORA_TARGETS, type LoraConfig, type LoraExpert, type LoraMatrices } from "../experts/types.js";
import { CompiledGraph } from "../graph/session.js";
import { Encoder, type LoadedModel } from "../model/encoder.js";
import { adamWStep, DEFAULT_ADAMW, initAdamW, type AdamWState } from "../util/adam.js";
import { rng, shuffled } from "../util/random.js";
import type { VectorIndex } from "../vectors/store.js";
import { stepFeeds } from "./batch.js";
import { commitEpoch, epochWeightsFile, readBestWeights, readCheckpoint, readCheckpointState, type CheckpointState, type EpochRecord } from "./checkpoint.js";
import { allPairs, corpusNegatives, prepareDomain, queryKey, type Domain, type DomainPair } from "./data.js";
import { buildTrainingGraph } from "./loss-graph.js";
import { linearWarmupDecay } from "./optim.js";

export type { EpochRecord } from "./checkpoint.js";

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

export type Negatives = "corpus" | "in-batch";
export const NEGATIVES: readonly Negatives[] = ["corpus", "in-batch"];

/** At a few hundred CPU steps, the paper's 1e-4 leaves the zero-initialised B matrices near zero (README). */
export const DEFAULT_LR = 1e-3;

export const DEFAULT_LORA: LoraConfig = { rank: 8, alpha: 32, dropout: 0.1, targetModules: [...DEFAULT_LORA_TARGETS] };

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
  const pairs = allPairs(domains, o.balance ?? false, seed, emit, o.datasetDirs.join(", "));
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
  const paramsOf = (w: ReadonlyMap<string, LoraMatrices>): Float32Array[] => modules.flatMap((m) => [w.get(m.module)!.A as Float32Array, w.get(m.module)!.B as Float32Array]);
  const params = (): Float32Array[] => paramsOf(weights);
  const moduleNames = modules.map((m) => m.module);
  let adam: AdamWState = initAdamW(params());
  const asExpert = (w: ReadonlyMap<string, LoraMatrices>): LoraExpert => ({ id: o.expertId, config: lora, baseModelId: model.spec.id, weights: w, meta: {} });
  const devScore = async (expert: LoraExpert | undefined): Promise<number> => {
    devEncoder.setExperts(expert ? [expert] : []);
    // Multi-Task: the mean over domains, so a large domain cannot drown the others.
    let sum = 0;
    for (const d of domains) sum += await devNdcg10(devEncoder, d.index, d.dev, expert ? expert.id : BASE);
    return sum / domains.length;
  };

  let state: CheckpointState;
  const prior = readCheckpointState(ckptDir);
  if (prior && prior.fingerprint === fingerprint) {
    ({ weights, adam } = readCheckpoint(ckptDir, prior, moduleNames, paramsOf));
    state = prior;
    emit({ kind: "setup", message: `resuming after epoch ${prior.epoch} (best dev nDCG@10 ${prior.bestDevNdcg10.toFixed(4)} at epoch ${prior.bestEpoch})` });
  } else {
    if (prior) emit({ kind: "setup", message: "checkpoint is from a different configuration; starting over" });
    const base = await devScore(undefined);
    state = { version: 1, fingerprint, epoch: 0, step: 0, adamStep: 0, history: [], bestEpoch: 0, bestDevNdcg10: base, baseDevNdcg10: base, trainSeconds: 0, secondsToBest: 0, stepSeconds: [], weightsFile: "", bestFile: "" };
  }
  emit({ kind: "start", totalSteps, stepsPerEpoch, pairs: pairs.length, devQueries: domains.reduce((n, d) => n + d.dev.queries.size, 0), baseDevNdcg10: state.baseDevNdcg10, resumedEpoch: state.epoch });

  /** One optimiser step on `batch`: forward, loss, generated backward (one ORT run), AdamW. */
  const trainStep = async (batch: readonly DomainPair[], step: number): Promise<{ loss: number; lr: number; seconds: number }> => {
    const ts = performance.now();
    const feeds = stepFeeds(batch, queryTokens, domains, corpusNeg, modules, weights, lora.dropout, tokenized.padId, rng(seed * 7919 + step * 31 + 1));
    const out = await session.run(feeds);
    const loss = (out[tg.loss.name]!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) throw new RouterRetrieverError("INTERNAL", `training diverged: loss ${loss} at step ${step}`);
    const grads = tg.grads.flatMap((gr) => [out[gr.dA.name]!.data as Float32Array, out[gr.dB.name]!.data as Float32Array]);
    const lr = linearWarmupDecay(adamCfg.lr, step, totalSteps, o.warmupFraction ?? 0.1);
    adamWStep(params(), grads, adam, adamCfg, lr);
    return { loss, lr, seconds: (performance.now() - ts) / 1000 };
  };

  let stale = state.history.length - state.bestEpoch;
  for (let epoch = state.epoch + 1; epoch <= epochs && stale < patience; epoch++) {
    const t0 = performance.now();
    const order = shuffled(pairs, rng(seed * 1_000_003 + epoch));
    let lossSum = 0;
    let step = state.step;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const batch = order.slice(s * batchSize, (s + 1) * batchSize);
      if (batch.length < 2) continue; // InfoNCE needs at least one in-batch negative
      const { loss, lr, seconds } = await trainStep(batch, step);
      step++;
      lossSum += loss;
      state.stepSeconds.push(seconds);
      emit({ kind: "step", step, totalSteps, epoch, loss, lr, pairsPerSec: batch.length / seconds, stepSeconds: seconds });
    }
    const devNdcg10 = await devScore(asExpert(weights));
    const seconds = (performance.now() - t0) / 1000;
    const record: EpochRecord = { epoch, meanLoss: lossSum / stepsPerEpoch, devNdcg10, seconds };
    const improved = devNdcg10 > state.bestDevNdcg10;
    const trainSeconds = state.trainSeconds + seconds;
    const weightsFile = epochWeightsFile(epoch);
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
    commitEpoch(ckptDir, state, weights, adam);
    stale = improved ? 0 : stale + 1;
    emit({ kind: "epoch", epoch, devNdcg10, meanLoss: record.meanLoss, improved, seconds });
  }

  // The best epoch wins; if no epoch beat the base on dev, the best is the untouched init (B = 0: the base).
  const bestWeights = state.bestFile ? readBestWeights(ckptDir, state, moduleNames) : initLora(model, lora, seed);
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

/** nDCG@10 of one expert (or "base") on the dev queries, searching the whole corpus. */
async function devNdcg10(enc: ExpertEncoder, index: VectorIndex, dev: DevSet, expertId: string): Promise<number> {
  const ids = [...dev.queries.keys()];
  const vecs = await enc.encode(ids.map((q) => dev.queries.get(q)!), expertId);
  const ignore = dev.ignoreIdenticalIds ?? false;
  const run = retrieve(index, ids, vecs, RUN_DEPTH, ignore);
  return evaluateRun(dev.qrels, run, { ks: [10], ignoreIdenticalIds: ignore }).mean["ndcg@10"] ?? 0;
}

