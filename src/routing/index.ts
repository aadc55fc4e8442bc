/** Routing: pilot library (Algorithm 1), routing rules, incremental experts, baselines and oracles. */
export * from "./types.js";
export * from "./scores.js";
export * from "./pilots.js";
export * from "./router.js";
export * from "./incremental.js";
export * from "./persist.js";
export * from "./evidence.js";
export * from "./logreg.js";
export * from "./baselines.js";
export * from "./oracles.js";
