/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter; torch.optim.AdamW's update), the one
 * optimiser step of the project: LoRA training (Float32 parameters) and the routing baselines'
 * full-batch logistic regressions (Float64, weight decay 0, which makes it plain Adam) share it.
 */

export interface AdamWConfig {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

/** torch.optim.AdamW's defaults but weight decay 0 (the paper trains LoRA without it). */
export const DEFAULT_ADAMW: AdamWConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

type Floats = Float32Array | Float64Array;

/** Moments kept in the parameters' own precision. */
export interface AdamWState<T extends Floats = Float32Array> {
  step: number;
  readonly m: T[];
  readonly v: T[];
}

export function initAdamW<T extends Floats>(params: readonly T[]): AdamWState<T> {
  const zeros = (p: T): T => new (p.constructor as new (n: number) => T)(p.length);
  return { step: 0, m: params.map(zeros), v: params.map(zeros) };
}

/** One update in place, at learning rate `lr` (the schedule's value for this step). */
export function adamWStep<T extends Floats>(params: T[], grads: ReadonlyArray<ArrayLike<number>>, state: AdamWState<T>, cfg: AdamWConfig, lr: number): void {
  state.step++;
  const bc1 = 1 - cfg.beta1 ** state.step;
  const bc2 = 1 - cfg.beta2 ** state.step;
  params.forEach((p, k) => {
    const g = grads[k]!;
    const m = state.m[k]!;
    const v = state.v[k]!;
    for (let i = 0; i < p.length; i++) {
      p[i]! *= 1 - lr * cfg.weightDecay;
      m[i] = cfg.beta1 * m[i]! + (1 - cfg.beta1) * g[i]!;
      v[i] = cfg.beta2 * v[i]! + (1 - cfg.beta2) * g[i]! * g[i]!;
      p[i]! -= (lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + cfg.eps);
    }
  });
}
