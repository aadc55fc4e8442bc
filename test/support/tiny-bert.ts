/**
 * A tiny random BERT (2 layers, hidden 32, 4 heads) for gradient checks and fast graph tests:
 * same weight names and shapes as a real checkpoint, so the real graph builder runs on it.
 */
import { LINEAR_MODULES } from "../../src/model/bert-graph.js";
import type { Tensor } from "../../src/model/safetensors.js";
import type { BertConfig, ModelSpec } from "../../src/model/spec.js";
import { rng, uniform } from "../../src/util/random.js";

export const TINY_BERT_CONFIG: BertConfig = {
  vocabSize: 40, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64,
  maxPositions: 16, typeVocabSize: 2, layerNormEps: 1e-12, padTokenId: 0,
};

export function tinyBertWeights(seed: number): Map<string, Tensor> {
  const rand = rng(seed);
  const w = new Map<string, Tensor>();
  const put = (name: string, shape: number[], lo: number, hi: number): void => {
    w.set(name, { shape, data: Float32Array.from(uniform(rand, shape.reduce((a, b) => a * b, 1), lo, hi)) });
  };
  const h = TINY_BERT_CONFIG.hiddenSize;
  const layerNorm = (p: string): void => (put(`${p}.weight`, [h], 0.8, 1.2), put(`${p}.bias`, [h], -0.1, 0.1));
  put("embeddings.word_embeddings.weight", [TINY_BERT_CONFIG.vocabSize, h], -1, 1);
  put("embeddings.position_embeddings.weight", [TINY_BERT_CONFIG.maxPositions, h], -0.3, 0.3);
  put("embeddings.token_type_embeddings.weight", [TINY_BERT_CONFIG.typeVocabSize, h], -0.3, 0.3);
  layerNorm("embeddings.LayerNorm");
  for (let l = 0; l < TINY_BERT_CONFIG.numLayers; l++) {
    for (const m of LINEAR_MODULES) {
      const [out, inF] = m === "intermediate.dense" ? [TINY_BERT_CONFIG.intermediateSize, h] : m === "output.dense" ? [h, TINY_BERT_CONFIG.intermediateSize] : [h, h];
      const s = 1 / Math.sqrt(inF);
      put(`encoder.layer.${l}.${m}.weight`, [out, inF], -s, s);
      put(`encoder.layer.${l}.${m}.bias`, [out], -0.1, 0.1);
    }
    layerNorm(`encoder.layer.${l}.attention.output.LayerNorm`);
    layerNorm(`encoder.layer.${l}.output.LayerNorm`);
  }
  return w;
}


export const TINY_BERT_SPEC: ModelSpec = {
  id: "tiny-random-bert",
  dir: "",
  config: TINY_BERT_CONFIG,
  weightsPath: "",
  tokenizerPath: "",
  pooling: "mean",
  normalize: true,
  maxLength: 16,
};
