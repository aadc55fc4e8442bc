import { defineConfig } from "vitest/config";

// Forks, not threads: onnxruntime-node's native sessions are safest one per process. One fork at
// a time: on a 2-core machine two forks (each with ORT threads, child CLI processes, PGlite and
// Chromium) starved the main vitest process, and the forks' fixed 60 s RPC deadline then failed
// runs whose every test passed ("Timeout calling onTaskUpdate", seen in most full runs here).
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
