/** A fraction as a percentage with one decimal, as the paper's tables print them; "-" when absent. */
export function pct(x: number | undefined): string {
  return x === undefined ? "-" : (100 * x).toFixed(1);
}
