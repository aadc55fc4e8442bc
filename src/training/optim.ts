/**
 * The paper's schedule: linear warm-up over the first 10% of steps, then linear decay to 0
 * (transformers' get_linear_schedule_with_warmup). The optimiser itself is util/adam.ts.
 */
/** Learning rate at `step` (0-based) of `total`, warm-up over `warmupFraction` of the steps. */
export function linearWarmupDecay(baseLr: number, step: number, total: number, warmupFraction = 0.1): number {
  const warmup = Math.floor(total * warmupFraction);
  if (step < warmup) return (baseLr * step) / Math.max(1, warmup);
  return baseLr * Math.max(0, (total - step) / Math.max(1, total - warmup));
}
