/**
 * Property-based fuzzing of the adapter readers (safetensors + adapter_config.json), which read
 * downloaded, i.e. untrusted, files: random mutations of a valid adapter folder must give
 * either a valid expert (finite weights of the base's shapes) or a library error that the
 * service answers with 422, never another exception, and each case must finish quickly.
 * Runs on the tiny random BERT (2 layers, hidden 32) so hundreds of cases take a few seconds.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import type { LoadedModel } from "../model/encoder.js";
import { TINY_BERT_SPEC, tinyBertWeights } from "../../test/support/tiny-bert.js";
import { STATUS } from "../service/errors.js";
import { randomExpert } from "./init.js";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, asUnusableExpert, loadExpert, saveExpert } from "./peft.js";
import { linearModules } from "./types.js";

const root = mkdtempSync(join(tmpdir(), "rr-fuzz-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Only spec and weights are read by loadExpert; the tokenizer is never touched.
const base = { spec: TINY_BERT_SPEC, weights: tinyBertWeights(7), tokenizer: undefined as never } as LoadedModel;
const valid = join(root, "valid");
saveExpert(valid, randomExpert(base, { rank: 2, alpha: 4, dropout: 0, targetModules: ["query", "value"] }, 3, { id: "valid" }));
const WEIGHTS = readFileSync(join(valid, ADAPTER_WEIGHTS_FILE));
const CONFIG = JSON.parse(readFileSync(join(valid, ADAPTER_CONFIG_FILE), "utf8")) as Record<string, unknown>;
const HEADER_LEN = Number(WEIGHTS.readBigUInt64LE(0));
const HEADER = JSON.parse(WEIGHTS.subarray(8, 8 + HEADER_LEN).toString("utf8")) as Record<string, Record<string, unknown>>;
const TENSORS = Object.keys(HEADER).filter((k) => k !== "__metadata__");

/** Runs per `npm test`; RR_FUZZ_RUNS raises it for a longer local session. */
const RUNS = Number(process.env.RR_FUZZ_RUNS ?? 400);
/**
 * Per-case bound on CPU time (not wall time, which on a shared machine also counts other
 * processes' turns): a hostile regex or header must not stall the reader. Catastrophic
 * backtracking costs seconds to hours; a normal case costs a few milliseconds.
 */
const CASE_MS = 1000;

type Mutation =
  | { kind: "bytes"; edits: Array<[number, number]> }
  | { kind: "truncate"; at: number }
  | { kind: "append"; bytes: number[] }
  | { kind: "headerLength"; value: bigint }
  | { kind: "entry"; tensor: number; field: string; value: unknown }
  | { kind: "offsets"; tensor: number; start: number; end: number }
  | { kind: "dropEntry"; tensor: number }
  | { kind: "header"; value: unknown }
  | { kind: "config"; key: string; value: unknown }
  | { kind: "configText"; text: string }
  | { kind: "nonFinite"; tensor: number; index: number; value: number };

const json = fc.jsonValue({ maxDepth: 2 });
const CONFIG_KEYS = [...Object.keys(CONFIG), "lora_bias", "layer_replication", "trainable_token_indices", "unknown_key"];
// Regexes with nested quantifiers are the catastrophic-backtracking kind.
const hostileRegex = fc.constantFrom("(a+)+$", "(.*)*x", "(query|value|.*)*z", "(.*a){20}", "((((.*)*)*)*)*", ".*\\.(query|value)", "encoder\\.layer\\.[01]\\.attention\\.self\\.(query|key)", "(?=x)", "\\1", "[");

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("bytes" as const), edits: fc.array(fc.tuple(fc.nat({ max: WEIGHTS.length - 1 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat({ max: WEIGHTS.length - 1 }) }),
  fc.record({ kind: fc.constant("append" as const), bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant("headerLength" as const), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  fc.record({ kind: fc.constant("entry" as const), tensor: fc.nat({ max: TENSORS.length - 1 }), field: fc.constantFrom("dtype", "shape", "data_offsets", "extra"), value: fc.oneof(json, fc.constantFrom("F16", "BF16", "I64", "F64", "U8")) }),
  fc.record({ kind: fc.constant("offsets" as const), tensor: fc.nat({ max: TENSORS.length - 1 }), start: fc.integer({ min: -64, max: 70000 }), end: fc.integer({ min: -64, max: 70000 }) }),
  fc.record({ kind: fc.constant("dropEntry" as const), tensor: fc.nat({ max: TENSORS.length - 1 }) }),
  fc.record({ kind: fc.constant("header" as const), value: json }),
  fc.record({ kind: fc.constant("config" as const), key: fc.constantFrom(...CONFIG_KEYS), value: fc.oneof(json, hostileRegex, fc.constant(undefined)) }),
  fc.record({ kind: fc.constant("configText" as const), text: fc.string({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant("nonFinite" as const), tensor: fc.nat({ max: TENSORS.length - 1 }), index: fc.nat({ max: 63 }), value: fc.constantFrom(NaN, Infinity, -Infinity) }),
);

function withHeader(header: unknown, data: Buffer = WEIGHTS.subarray(8 + HEADER_LEN)): Buffer {
  const h = Buffer.from(JSON.stringify(header) ?? "null");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** The mutated folder's two files. */
function apply(m: Mutation): { weights: Buffer; config: string } {
  let weights: Buffer = Buffer.from(WEIGHTS);
  let config = JSON.stringify(CONFIG);
  const header = (): Record<string, Record<string, unknown>> => structuredClone(HEADER);
  switch (m.kind) {
    case "bytes":
      for (const [at, v] of m.edits) weights[at] = v;
      break;
    case "truncate":
      weights = weights.subarray(0, m.at);
      break;
    case "append":
      weights = Buffer.concat([weights, Buffer.from(m.bytes)]);
      break;
    case "headerLength":
      weights.writeBigUInt64LE(m.value, 0);
      break;
    case "entry": {
      const h = header();
      h[TENSORS[m.tensor]!]![m.field] = m.value;
      weights = withHeader(h);
      break;
    }
    case "offsets": {
      const h = header();
      h[TENSORS[m.tensor]!]!.data_offsets = [m.start, m.end];
      weights = withHeader(h);
      break;
    }
    case "dropEntry": {
      const h = header();
      delete h[TENSORS[m.tensor]!];
      weights = withHeader(h);
      break;
    }
    case "header":
      weights = withHeader(m.value);
      break;
    case "config": {
      const c: Record<string, unknown> = { ...CONFIG, [m.key]: m.value };
      if (m.value === undefined) delete c[m.key];
      config = JSON.stringify(c);
      break;
    }
    case "configText":
      config = m.text;
      break;
    case "nonFinite": {
      const e = HEADER[TENSORS[m.tensor]!]!;
      const [start, end] = e.data_offsets as [number, number];
      const at = 8 + HEADER_LEN + start + 4 * (m.index % ((end - start) / 4));
      weights.writeFloatLE(m.value, at);
      break;
    }
  }
  return { weights, config };
}

describe("adapter readers under random mutation", () => {
  // Async with a yield per case: a synchronous run of hundreds of cases holds the test worker's
  // event loop for tens of seconds, past the forks pool's 60 s RPC deadline under load.
  it(`give a valid expert or a 422 error, each case within ${CASE_MS} ms of CPU`, { timeout: 900_000 }, async () => {
    const dir = join(root, "case");
    mkdirSync(dir);
    const modules = linearModules(base);
    const outcomes = new Map<string, number>();
    let slowest = 0;
    const t0 = performance.now();
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const { weights, config } = apply(m);
        writeFileSync(join(dir, ADAPTER_WEIGHTS_FILE), weights);
        writeFileSync(join(dir, ADAPTER_CONFIG_FILE), config);
        const start = process.cpuUsage();
        let outcome: string;
        try {
          const e = loadExpert(dir, base, { id: "case", onWarning: () => {} });
          for (const [module, { A, B }] of e.weights) {
            const shape = modules.get(module)!;
            expect(A.length).toBe(e.config.rank * shape.inFeatures);
            expect(B.length).toBe(shape.outFeatures * e.config.rank);
            for (const v of A) expect(Number.isFinite(v)).toBe(true);
            for (const v of B) expect(Number.isFinite(v)).toBe(true);
          }
          outcome = "valid expert";
        } catch (err) {
          if (!(err instanceof RouterRetrieverError)) throw new Error(`${m.kind}: not a library error: ${String(err)}`);
          const mapped = asUnusableExpert(err) as RouterRetrieverError;
          expect(STATUS[mapped.code], `${m.kind}: ${err.code} ${err.message}`).toBe(422);
          outcome = `422 ${err.code}`;
        }
        const used = process.cpuUsage(start);
        const ms = (used.user + used.system) / 1000;
        slowest = Math.max(slowest, ms);
        expect(ms, `${m.kind} took ${ms.toFixed(0)} ms of CPU`).toBeLessThan(CASE_MS);
        outcomes.set(`${m.kind}: ${outcome}`, (outcomes.get(`${m.kind}: ${outcome}`) ?? 0) + 1);
      }),
      { numRuns: RUNS, seed: Number(process.env.RR_FUZZ_SEED ?? 20261202) },
    );
    const total = performance.now() - t0;
    const lines = [...outcomes].sort().map(([k, n]) => `  ${k}: ${n}`);
    process.stdout.write(`adapter fuzz: ${RUNS} cases in ${(total / 1000).toFixed(2)} s (slowest case ${slowest.toFixed(1)} ms of CPU)\n${lines.join("\n")}\n`);
    // Both outcomes must occur, or the mutations are not exercising the reader.
    expect([...outcomes.keys()].some((k) => k.endsWith("valid expert"))).toBe(true);
    expect([...outcomes.keys()].some((k) => k.includes("422"))).toBe(true);
  });
});
