/**
 * The paper's router baselines (METHOD.md "Systems compared"), each built in one call from the
 * pilot labels and each a QueryRouter over base query embeddings, like RouterRetriever itself
 * (router.ts `pilotRouter`):
 *  - datasetRouter: nearest of 100 sampled training queries per domain (cosine) -> that
 *    domain -> its expert ("base" for a domain without one).
 *  - expertClassifierRouter: one binary logistic regression per candidate ("is this candidate
 *    the best for the query?"), route to the highest probability.
 *  - classificationHeadRouter: one softmax head over candidates, class-balanced loss.
 * The classifiers train on labels with a best candidate (all-zero queries skipped by
 * Algorithm 1 carry no target); the dataset router uses every label, since it needs only the
 * domain. Ties in every router go to the candidate listed first (label candidate order).
 */
import { RouterRetrieverError } from "../errors.js";
import { balancedClassWeights, trainLogistic, trainSoftmax, type LinearModelOptions, type LogisticModel, type SoftmaxModel } from "./logreg.js";
import type { PilotLabel, PilotLabels } from "./pilots.js";
import { checkRows } from "./router.js";
import { BASE, type QueryRouter, type RoutingDecision } from "./types.js";
import { rng, shuffled } from "../util/random.js";

export interface DatasetRouterOptions {
  /** Training queries sampled per domain (default 100, the paper's number). */
  readonly perDomain?: number;
  readonly seed?: number;
  /**
   * Domain -> expert. Default: each domain's own expert from the labels; a domain without an
   * entry (and without its own expert) routes to "base".
   */
  readonly domainExperts?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
}

export interface DatasetRouter extends QueryRouter {
  /** The sampled training queries, in domain order then sample order. */
  readonly sample: readonly { readonly domain: string; readonly queryId: string }[];
  readonly domainExperts: ReadonlyMap<string, string>;
}

export function datasetRouter(labels: PilotLabels, opts: DatasetRouterOptions = {}): DatasetRouter {
  const per = opts.perDomain ?? 100;
  if (!(Number.isInteger(per) && per > 0)) throw new RouterRetrieverError("BAD_INPUT", `perDomain must be a positive integer, got ${per}`);
  const seed = opts.seed ?? 0;
  const given = opts.domainExperts instanceof Map ? opts.domainExperts : new Map(Object.entries(opts.domainExperts ?? {}));
  const domainExperts = new Map<string, string>();
  for (const d of labels.domains) domainExperts.set(d.name, given.get(d.name) ?? d.expert ?? BASE);
  for (const name of given.keys()) if (!domainExperts.has(name)) throw new RouterRetrieverError("NOT_FOUND", `domainExperts names "${name}", which is not a domain of the labels`);

  const sample: PilotLabel[] = [];
  for (const { name } of labels.domains) {
    const own = labels.labels.filter((l) => l.domain === name);
    // Sorted back to label order after sampling, so the sample is a set, not a shuffle.
    const keep = shuffled(own.map((_, i) => i), rng(seed)).slice(0, per).sort((a, b) => a - b);
    for (const i of keep) sample.push(own[i]!);
  }
  if (sample.length === 0) throw new RouterRetrieverError("BAD_INPUT", "datasetRouter: the labels hold no training queries");
  const d = labels.dims;
  const unit = sample.map((l) => unitVector(l.vector, 0, d));
  const targets = [...new Set(domainExperts.values())];
  const order = [...labels.candidates.filter((c) => targets.includes(c)), ...targets.filter((t) => !labels.candidates.includes(t))];

  return {
    name: "DatasetRouter",
    sample: sample.map((l) => ({ domain: l.domain, queryId: l.queryId })),
    domainExperts,
    route(baseVectors: Float32Array, n: number): RoutingDecision[] {
      checkRows(baseVectors, n, d);
      const out: RoutingDecision[] = [];
      for (let q = 0; q < n; q++) {
        const qv = unitVector(baseVectors, q * d, d);
        let best = -1;
        let bestSim = -Infinity;
        const scores: Record<string, number> = {};
        for (const t of order) scores[t] = -Infinity;
        sample.forEach((l, j) => {
          let s = 0;
          const u = unit[j]!;
          for (let i = 0; i < d; i++) s += qv[i]! * u[i]!;
          const e = domainExperts.get(l.domain)!;
          if (s > scores[e]!) scores[e] = s;
          // Strict ">": the earliest sampled query wins a tie.
          if (s > bestSim) {
            bestSim = s;
            best = j;
          }
        });
        out.push({ expert: domainExperts.get(sample[best < 0 ? 0 : best]!.domain)!, scores });
      }
      return out;
    },
  };
}

function unitVector(v: Float32Array, off: number, d: number): Float64Array {
  let s = 0;
  for (let i = 0; i < d; i++) s += v[off + i]! * v[off + i]!;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) out[i] = v[off + i]! * inv;
  return out;
}

/** The classifiers' training set: labels with a best candidate, as a row-major matrix. */
function trainingSet(labels: PilotLabels): { x: Float32Array; y: Int32Array; n: number } {
  const used = labels.labels.filter((l) => l.best !== null);
  if (used.length === 0) throw new RouterRetrieverError("BAD_INPUT", "no labelled training queries (every query was all-zero)");
  const d = labels.dims;
  const x = new Float32Array(used.length * d);
  const y = new Int32Array(used.length);
  used.forEach((l, r) => {
    x.set(l.vector, r * d);
    y[r] = labels.candidates.indexOf(l.best!);
  });
  return { x, y, n: used.length };
}

/** argmax over per-candidate scores, first candidate on ties. */
function decide(candidates: readonly string[], values: ArrayLike<number>): RoutingDecision {
  const scores: Record<string, number> = {};
  let best = 0;
  candidates.forEach((c, k) => {
    scores[c] = values[k]!;
    if (values[k]! > values[best]!) best = k;
  });
  return { expert: candidates[best]!, scores };
}

export interface ExpertClassifierOptions extends LinearModelOptions {
  /**
   * Weight positives and negatives of each binary problem equally (each candidate wins only a
   * minority of queries). Default false: the paper trains plain binary classifiers.
   */
  readonly balanced?: boolean;
}

export interface ExpertClassifierRouter extends QueryRouter {
  readonly candidates: readonly string[];
  readonly models: readonly LogisticModel[];
}

export function expertClassifierRouter(labels: PilotLabels, opts: ExpertClassifierOptions = {}): ExpertClassifierRouter {
  const { x, y, n } = trainingSet(labels);
  const d = labels.dims;
  const candidates = [...labels.candidates];
  const models = candidates.map((_, k) => {
    const yk = Float64Array.from(y, (c) => (c === k ? 1 : 0));
    let sampleWeight: Float64Array | undefined;
    if (opts.balanced) {
      const w = balancedClassWeights(Int32Array.from(yk), 2);
      sampleWeight = Float64Array.from(yk, (t) => w[t]!);
    }
    return trainLogistic(x, yk, n, d, { ...opts, sampleWeight });
  });
  return {
    name: "ExpertClassifierRouter",
    candidates,
    models,
    route(baseVectors: Float32Array, nq: number): RoutingDecision[] {
      checkRows(baseVectors, nq, d);
      const out: RoutingDecision[] = [];
      for (let q = 0; q < nq; q++) out.push(decide(candidates, models.map((m) => m.probability(baseVectors, q * d))));
      return out;
    },
  };
}

export interface ClassificationHeadOptions extends LinearModelOptions {
  /** Class-balanced loss weights (default true, as in the paper). */
  readonly balanced?: boolean;
}

export interface ClassificationHeadRouter extends QueryRouter {
  readonly candidates: readonly string[];
  readonly model: SoftmaxModel;
}

export function classificationHeadRouter(labels: PilotLabels, opts: ClassificationHeadOptions = {}): ClassificationHeadRouter {
  const { x, y, n } = trainingSet(labels);
  const d = labels.dims;
  const candidates = [...labels.candidates];
  const k = candidates.length;
  const classWeight = opts.balanced === false ? undefined : balancedClassWeights(y, k);
  const model = trainSoftmax(x, y, n, d, k, { ...opts, classWeight });
  return {
    name: "ClassificationHeadRouter",
    candidates,
    model,
    route(baseVectors: Float32Array, nq: number): RoutingDecision[] {
      checkRows(baseVectors, nq, d);
      const out: RoutingDecision[] = [];
      for (let q = 0; q < nq; q++) out.push(decide(candidates, model.probabilities(baseVectors, q * d)));
      return out;
    },
  };
}

/** A router that always answers with one candidate: the single-model rows of Table 1 (base, Multi-Task, one expert). */
export function fixedRouter(expert: string, name = `Fixed(${expert})`): QueryRouter {
  return {
    name,
    route(baseVectors: Float32Array, n: number): RoutingDecision[] {
      if (!Number.isInteger(n) || n < 0) throw new RouterRetrieverError("BAD_INPUT", `n must be a non-negative integer, got ${n}`);
      return Array.from({ length: n }, () => ({ expert, scores: { [expert]: 1 } }));
    },
  };
}
