/** LoRA experts: PEFT-compatible storage, initialisation, and the multi-expert encoder. */
export * from "./types.js";
export * from "./init.js";
export * from "./peft.js";
export * from "./stack.js";
export * from "./expert-encoder.js";
