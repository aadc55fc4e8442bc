/**
 * The trainer's checkpoints in `<outDir>.checkpoint/`: after every epoch the adapter and the
 * optimiser moments of that epoch are written, then state.json (atomically): state.json is the
 * commit point, and names the files that belong to it. Only the last and the best epoch's files
 * are kept.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../errors.js";
import type { LoraMatrices } from "../experts/types.js";
import { readSafetensors, writeSafetensors, type Tensor } from "../model/safetensors.js";
import type { AdamWState } from "../util/adam.js";
import { writeJsonAtomic } from "../util/atomic.js";

export interface EpochRecord {
  readonly epoch: number;
  readonly meanLoss: number;
  readonly devNdcg10: number;
  readonly seconds: number;
}

export interface CheckpointState {
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

/** The committed state in `dir`, if any (whatever configuration wrote it). */
export function readCheckpointState(dir: string): CheckpointState | undefined {
  const path = join(dir, "state.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as CheckpointState) : undefined;
}

/** The weights and optimiser moments `state` committed. */
export function readCheckpoint(dir: string, state: CheckpointState, modules: readonly string[], params: (w: ReadonlyMap<string, LoraMatrices>) => Float32Array[]): { weights: Map<string, LoraMatrices>; adam: AdamWState } {
  const weights = readWeights(join(dir, state.weightsFile), modules);
  return { weights, adam: readAdam(join(dir, adamFile(state.weightsFile)), params(weights), state.adamStep) };
}

/** The best epoch's adapter weights. */
export function readBestWeights(dir: string, state: CheckpointState, modules: readonly string[]): Map<string, LoraMatrices> {
  return readWeights(join(dir, state.bestFile), modules);
}

/** Writes the epoch's files, then commits `state` (which must name them), then prunes. */
export function commitEpoch(dir: string, state: CheckpointState, weights: ReadonlyMap<string, LoraMatrices>, adam: AdamWState): void {
  writeWeights(join(dir, state.weightsFile), weights);
  writeAdam(join(dir, adamFile(state.weightsFile)), adam);
  writeJsonAtomic(join(dir, "state.json"), state);
  pruneCheckpoints(dir, [state.weightsFile, state.bestFile], state.epoch);
}

export function epochWeightsFile(epoch: number): string {
  return `epoch-${epoch}.lora.safetensors`;
}

function adamFile(weightsFile: string): string {
  return weightsFile.replace(".lora.", ".adam.");
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
    const f = epochWeightsFile(e);
    if (keep.includes(f)) continue;
    rmSync(join(dir, f), { force: true });
    rmSync(join(dir, adamFile(f)), { force: true });
  }
}
