/**
 * Corpus-encoding benchmark against the peer, in one run: transformers.js (fp32, the library a
 * TypeScript user would pick) and our encoder in each precision and fusion variant, on the same
 * scifact texts, in the same length-sorted batches of 32, with the same ORT thread count.
 * Variants are interleaved batch by batch (each batch runs through every variant, in rotating
 * order) so the load other processes put on the machine falls on all of them alike. Prints
 * docs/s, tokens/s and the ratio to transformers.js; writes bench/results/encode.json.
 *
 * transformers.js needs a model folder with an ONNX file and may not download one: its
 * onnx/model.onnx is emitted from our graph IR in HuggingFace's export form (unfused, inputs
 * input_ids/attention_mask/token_type_ids, output last_hidden_state), from the same packaged
 * weights; its pipeline then pools and normalises in JS as it does for any user.
 *
 * A variant with an "xN" suffix (fp32x2, int8x2) runs N sessions of threads/N intra-op threads
 * each, on worker threads, with batches in flight side by side (data parallel, as `serve` does):
 * every step hands each variant the same `--group` batches (default 2) in one call, so a
 * one-session variant runs them one after the other and an x2 variant runs them at once.
 *
 *   npx tsx bench/encode.ts [--docs 1024] [--threads <cores>] [--variants tjs,fp32,fp32-plain,int8,int8t,int8-plain,fp32x2,int8x2] [--out encode.json]
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { env, pipeline, type FeatureExtractionPipeline } from "@huggingface/transformers";
import { documentText, loadCorpus } from "../src/data/beir.js";
import type { Node } from "../src/graph/ir.js";
import { emitOnnx } from "../src/graph/onnx.js";
import { buildBertGraph, NO_FUSIONS, type Fusions, type Int8Activations, type Precision } from "../src/model/bert-graph.js";
import { Encoder, loadModel, type LoadedModel } from "../src/model/encoder.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { defaultCacheDir } from "../src/vectors/encode-corpus.js";
import { sharedDatasetsDir, projectRoot } from "../src/util/paths.js";
import { writeJsonAtomic } from "../src/util/atomic.js";

const { values } = parseArgs({
  options: {
    docs: { type: "string", default: "1024" },
    threads: { type: "string", default: String(availableParallelism()) },
    variants: { type: "string", default: "tjs,fp32-plain,fp32,int8-plain,int8" },
    batch: { type: "string", default: "32" },
    group: { type: "string", default: "2" },
    out: { type: "string", default: "encode.json" },
  },
});
const datasets = sharedDatasetsDir();
if (!datasets) {
  console.error("bench/encode: ../shared/datasets is absent; nothing to measure");
  process.exit(0);
}
const threads = Number(values.threads);
const batchSize = Number(values.batch);
const group = Number(values.group);

/**
 * Our variants by name: "fp32"/"int8" with the default fused kernels, "-plain" with none, and
 * "+attention", "+skipLayerNorm", "+biasGelu" with that one alone (to measure each by itself);
 * "xN" runs N sessions (data parallel). int8 quantises activations per row (the default);
 * "int8t" per tensor (DynamicQuantizeMatMul, the FFN output projection kept float).
 */
function ourVariant(name: string): { precision: Precision; int8Activations?: Int8Activations; fusions?: Fusions; sessions: number } | undefined {
  const m = /^(fp32|int8t?)(?:(-plain)|\+(attention|skipLayerNorm|biasGelu))?(?:x(\d+))?$/.exec(name);
  if (!m) return undefined;
  const sessions = m[4] ? Number(m[4]) : 1;
  const precision: Precision = m[1] === "fp32" ? "fp32" : "int8";
  const int8Activations: Int8Activations = m[1] === "int8t" ? "per-tensor" : "per-row";
  const fusions = m[2] ? NO_FUSIONS : m[3] ? { ...NO_FUSIONS, [m[3]]: true } : undefined;
  return { precision, int8Activations, fusions, sessions };
}

/**
 * The model folder transformers.js loads: config, tokenizer (truncating at 256 like ours, the
 * sentence-transformers length) and onnx/model.onnx emitted from our unfused fp32 graph with
 * HuggingFace's export interface.
 */
function peerModelDir(model: LoadedModel): string {
  const dir = join(defaultCacheDir(), "bench-peer", model.spec.id.replace(/[^A-Za-z0-9._-]/g, "_"));
  mkdirSync(join(dir, "onnx"), { recursive: true });
  copyFileSync(join(model.spec.dir, "config.json"), join(dir, "config.json"));
  const tok = JSON.parse(readFileSync(model.spec.tokenizerPath, "utf8")) as Record<string, unknown>;
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ ...tok, truncation: null, padding: null }));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({
    tokenizer_class: "BertTokenizer", do_lower_case: true, model_max_length: model.spec.maxLength,
    cls_token: "[CLS]", sep_token: "[SEP]", pad_token: "[PAD]", unk_token: "[UNK]", mask_token: "[MASK]",
  }));
  const bg = buildBertGraph(model.spec.config, model.weights, { pooling: model.spec.pooling, normalize: false, fusions: NO_FUSIONS });
  const g = bg.graph;
  // HF's export computes position ids in-graph and takes token_type_ids; ours feeds positions.
  g.input("token_type_ids", "int64", ["batch", "seq"]); // unused: single-segment inputs are all zeros
  g.inputs.splice(g.inputs.indexOf(bg.positionIds), 1);
  const shape = g.newValue("int64", [2], "hf_shape");
  const seqLen = g.newValue("int64", [], "hf_seq_len");
  const nodes: Node[] = [
    { op: "Shape", inputs: [bg.inputIds], outputs: [shape], attrs: {} },
    { op: "Gather", inputs: [shape, g.constant(1, "int64")], outputs: [seqLen], attrs: { axis: { i: 0 } } },
    { op: "Range", inputs: [g.constant(0, "int64"), seqLen, g.constant(1, "int64")], outputs: [bg.positionIds], attrs: {} },
  ];
  const hidden = g.newValue("float32", ["batch", "seq", model.spec.config.hiddenSize], "last_hidden_state");
  g.nodes.unshift(...nodes);
  g.nodes.push({ op: "Identity", inputs: [bg.hidden], outputs: [hidden], attrs: {} });
  g.outputs.splice(0, g.outputs.length, hidden);
  writeFileSync(join(dir, "onnx", "model.onnx"), emitOnnx(g, "bert-hf-export-form"));
  return dir;
}

const corpus = await loadCorpus(join(datasets, "scifact"));
const texts = corpus.slice(0, Number(values.docs)).map(documentText);
const model = loadModel(defaultModelSpec());
// Length-sorted (longest first, as makeBatches does), then cut into steps every variant shares.
const lens = texts.map((t) => model.tokenizer.encode(t).length);
const order = texts.map((_, i) => i).sort((a, b) => lens[b]! - lens[a]! || a - b);
// A step is `group` consecutive batches, handed to every variant in one call (see the header).
const steps: string[][] = [];
for (let i = 0; i < order.length; i += batchSize * group) steps.push(order.slice(i, i + batchSize * group).map((r) => texts[r]!));
const totalTokens = lens.reduce((a, b) => a + b, 0);

type Run = (texts: string[]) => Promise<unknown>;
const names = values.variants!.split(",");
const runs = new Map<string, { run: Run; close: () => Promise<void> }>();
const startup = new Map<string, number>();
for (const name of names) {
  const t0 = performance.now();
  if (name === "tjs") {
    env.allowRemoteModels = false;
    env.localModelPath = join(peerModelDir(model), "..");
    const id = model.spec.id.replace(/[^A-Za-z0-9._-]/g, "_");
    const extractor: FeatureExtractionPipeline = await pipeline("feature-extraction", id, { dtype: "fp32", device: "cpu", session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 } });
    // transformers.js pads a call's texts into one batch: feed it the step's batches one by one.
    const run = async (t: string[]) => {
      for (let i = 0; i < t.length; i += batchSize) await extractor(t.slice(i, i + batchSize), { pooling: "mean", normalize: true });
    };
    runs.set(name, { run, close: () => extractor.dispose() });
  } else {
    const v = ourVariant(name);
    if (!v) throw new Error(`unknown variant "${name}" (tjs, fp32, int8, with -plain or +attention/+skipLayerNorm/+biasGelu, then optionally xN)`);
    const enc = await Encoder.create(model, { threads: Math.max(1, Math.floor(threads / v.sessions)), sessions: v.sessions, precision: v.precision, int8Activations: v.int8Activations, fusions: v.fusions });
    runs.set(name, { run: (t) => enc.encode(t, { batchSize }), close: () => enc.close() });
  }
  startup.set(name, performance.now() - t0);
}

// Warm-up: a step of short texts each (first-run allocations, every session of an xN variant).
const shortest = steps[steps.length - 1]!;
const warm = Array.from({ length: batchSize * group }, (_, i) => shortest[i % shortest.length]!);
for (const name of names) await runs.get(name)!.run(warm);
const seconds = new Map(names.map((n) => [n, 0]));
const load0 = loadavg()[0]!;
for (let b = 0; b < steps.length; b++) {
  for (let j = 0; j < names.length; j++) {
    const name = names[(b + j) % names.length]!;
    const t0 = performance.now();
    await runs.get(name)!.run(steps[b]!);
    seconds.set(name, seconds.get(name)! + (performance.now() - t0) / 1000);
  }
  if (b % 4 === 3) process.stderr.write(`\r  step ${b + 1}/${steps.length}`);
}
process.stderr.write("\n");
const load1 = loadavg()[0]!;
for (const r of runs.values()) await r.close();

const peer = names.includes("tjs") ? texts.length / seconds.get("tjs")! : undefined;
const rows = names.map((name) => {
  const sec = seconds.get(name)!;
  const docsPerSec = texts.length / sec;
  return {
    variant: name === "tjs" ? "transformers.js 4.3.1 fp32" : name,
    seconds: +sec.toFixed(2),
    docsPerSec: +docsPerSec.toFixed(1),
    tokensPerSec: Math.round(totalTokens / sec),
    ratioToTransformersJs: peer ? +(docsPerSec / peer).toFixed(2) : null,
    startupSeconds: +(startup.get(name)! / 1000).toFixed(2),
  };
});
console.table(rows);
console.log(`load average (1 min) ${load0.toFixed(1)} at start, ${load1.toFixed(1)} at end; ${threads} threads, ${texts.length} docs, ${steps.length} steps of ${group} batches of ${batchSize}`);
// A bare name lands in bench/results; an absolute path is taken as it is.
const out = resolve(projectRoot, "bench", "results", values.out!);
writeJsonAtomic(out, { date: new Date().toISOString(), model: model.spec.id, cpu: cpus()[0]?.model, threads, docs: texts.length, batchSize, group, loadAverage: [load0, load1], rows });
console.log(`written ${out}`);
