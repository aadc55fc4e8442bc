/**
 * ../shared (datasets, golden outputs) for tests. Without it, tests that need it skip and say
 * why, so the project passes on a machine without it. Under RR_REAL_DATA=1 (what .ci/run sets)
 * its absence is a failing test instead: CI cannot go green without the real-data checks.
 */
import { it } from "vitest";

export const REAL_DATA = process.env.RR_REAL_DATA === "1";

/**
 * `dir` as found (sharedDatasetsDir(), sharedGoldenDir()), or undefined after warning; call it
 * at the top level of a test file, where it can register the failing test.
 */
export function sharedForTests(dir: string | undefined, what: string, usedBy: string): string | undefined {
  if (dir !== undefined) return dir;
  if (REAL_DATA) {
    it(`${what} is present (RR_REAL_DATA=1 requires it for ${usedBy})`, () => {
      throw new Error(`${what} not found, but RR_REAL_DATA=1: the real-data checks of ${usedBy} cannot run, and CI must not pass without them`);
    });
  } else {
    console.warn(`${usedBy}: skipping the checks that need ${what}: not found`);
  }
  return undefined;
}
