/**
 * Keeps every test worker's event loop turning, and names the test that holds it.
 *
 * vitest's forks pool gives a worker's RPC calls to the main process a fixed 60 s deadline, and
 * the reply is read only when the worker's event loop reaches its poll phase. Tests whose work
 * settles as microtasks (synchronous file work, promises already resolved) can run back to back
 * for minutes without the loop turning once (the store fault-injection cases did: 66 s), so the
 * deadline passes with the reply unread and the run ends with "Timeout calling onTaskUpdate".
 * A setImmediate before each test lets the loop pass through poll between tests.
 *
 * The watch ticks once a second and, when a tick comes more than RR_LOOP_WATCH_MS (default 15 s)
 * late, writes the file and test that were running to stderr: a single test holding the loop
 * that long is the next thing to fix.
 */
import { performance } from "node:perf_hooks";
import { beforeEach, expect } from "vitest";

beforeEach(() => new Promise<void>((resolve) => setImmediate(resolve)));

const LATE_MS = Number(process.env.RR_LOOP_WATCH_MS ?? 15_000);
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
