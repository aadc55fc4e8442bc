/**
 * transformers.js doing `index`'s encoding job, for bench/index-wall.ts: start the pipeline from
 * the local model folder bench/encode.ts writes, read a BEIR corpus, embed it in batches of 32
 * (mean pooling, normalised) with ORT threads = the machine's cores.
 *
 *   npx tsx bench/peer-index.ts <corpus-dir>
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { env, pipeline } from "@huggingface/transformers";
import { documentText, loadCorpus } from "../src/data/beir.js";
import { defaultModelSpec } from "../src/model/spec.js";
import { defaultCacheDir } from "../src/vectors/encode-corpus.js";

const spec = defaultModelSpec();
env.allowRemoteModels = false;
env.localModelPath = join(defaultCacheDir(), "bench-peer");
const extractor = await pipeline("feature-extraction", spec.id.replace(/[^A-Za-z0-9._-]/g, "_"), {
  dtype: "fp32",
  device: "cpu",
  session_options: { intraOpNumThreads: availableParallelism(), interOpNumThreads: 1 },
});
// Longest first, as our encoder batches: padding waste is the same on both sides.
const texts = (await loadCorpus(process.argv[2]!)).map(documentText).sort((a, b) => b.length - a.length);
let dims = 0;
for (let i = 0; i < texts.length; i += 32) dims = (await extractor(texts.slice(i, i + 32), { pooling: "mean", normalize: true })).dims[1] as number;
await extractor.dispose();
process.stderr.write(`peer: ${texts.length} docs, ${dims} dims\n`);
