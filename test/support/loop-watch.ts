/**
 * Names the test that holds a test worker's event loop. vitest's forks pool gives a worker's RPC
 * calls to the main process a fixed 60 s deadline; a worker whose loop is blocked that long ends
 * the run with "Timeout calling onTaskUpdate" and no hint of where. This setup file ticks once a
 * second and, when a tick comes late by more than LATE_MS, writes the file and test that were
 * running to stderr, so the culprit can be found from one full run.
 */
import { performance } from "node:perf_hooks";
import { expect } from "vitest";

const LATE_MS = 15_000;
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  const late = now - last - 1000;
  last = now;
  if (late > LATE_MS) {
    const state = expect.getState();
    process.stderr.write(`[loop-watch] event loop held ${(late / 1000).toFixed(1)} s in ${state.testPath ?? "?"} > ${state.currentTestName ?? "(between tests)"}\n`);
  }
}, 1000);
timer.unref();
