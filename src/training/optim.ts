/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter; torch.optim.AdamW's update) and the
 * paper's schedule: linear warm-up over the first 10% of steps, then linear decay to 0
 * (transformers' get_linear_schedule_with_warmup).
 */

export interface AdamWConfig {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

export interface AdamWState {
  step: number;
  readonly m: Float32Array[];
  readonly v: Float32Array[];
}

export function initAdamW(params: readonly Float32Array[]): AdamWState {
  return { step: 0, m: params.map((p) => new Float32Array(p.length)), v: params.map((p) => new Float32Array(p.length)) };
}

/** One update in place, at learning rate `lr` (the schedule's value for this step). */
export function adamWStep(params: Float32Array[], grads: readonly Float32Array[], state: AdamWState, cfg: AdamWConfig, lr: number): void {
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

/** Learning rate at `step` (0-based) of `total`, warm-up over `warmupFraction` of the steps. */
export function linearWarmupDecay(baseLr: number, step: number, total: number, warmupFraction = 0.1): number {
  const warmup = Math.floor(total * warmupFraction);
  if (step < warmup) return (baseLr * step) / Math.max(1, warmup);
  return baseLr * Math.max(0, (total - step) / Math.max(1, total - warmup));
}
