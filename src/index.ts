/**
 * routerretriever's library API. Everything a program needs to embed, index, search, evaluate,
 * train experts and route, with its types.
 */
export { RouterRetrieverError, type ErrorCode } from "./errors.js";
export type { JsonValue } from "./util/json.js";

// Model: HF-layout BERT folders, tokenizer, encoder.
export { defaultModelSpec, loadModelSpec, resolveModelSpec, DEFAULT_MODEL_ID, type ModelSpec, type BertConfig, type Pooling, type LoadSpecOptions } from "./model/spec.js";
export { Encoder, loadModel, type LoadedModel, type EncoderOptions, type EncodeOptions, type EncodeProgress } from "./model/encoder.js";
export { loadTokenizer, makeBatches, type TextTokenizer, type Batch } from "./model/tokenizer.js";
export { readSafetensors, writeSafetensors, type Tensor } from "./model/safetensors.js";
export { buildBertGraph, type BertGraph, type BertGraphOptions, type LoraGraphMode } from "./model/bert-graph.js";

// Graph IR, ONNX emission, autodiff.
export { Graph, type Value, type Node, type DType, type Shape } from "./graph/ir.js";
export * as ops from "./graph/ops.js";
export { emitOnnx } from "./graph/onnx.js";
export { gradients } from "./graph/autodiff.js";
export { CompiledGraph, type SessionOptions } from "./graph/session.js";

// Index: exact search, on-disk store, corpus-vector cache.
export { topK, type Hit } from "./vectors/topk.js";
export { createIndex, openIndex, VectorIndex, type IndexManifest, type IndexSpec, type DocumentHit, type SearchOptions } from "./vectors/store.js";
export { corpusCacheKey, type CachedCorpus } from "./vectors/cache.js";
export { corpusVectors, defaultCacheDir, type CorpusDoc, type CorpusVectorsOptions } from "./vectors/encode-corpus.js";

// Evaluation: BEIR loading, trec_eval metrics, whole-dataset evaluation.
export * from "./evaluation/index.js";
export { evaluateDataset, retrieve, ignoreIdenticalIdsFor, type DatasetEvaluation, type EvaluateDatasetOptions, type QueryEncoder } from "./evaluation/evaluate.js";

// Experts: PEFT-format LoRA adapters and the multi-expert encoder.
export * from "./experts/index.js";

// Training.
export { trainExpert, DEFAULT_LORA, type TrainExpertOptions, type TrainResult, type TrainEvent } from "./training/trainer.js";
export { loadTrainingPairs, pseudoQueryPairs, type TrainingPair, type TrainingSource } from "./data/pairs.js";

// Routing.
export * from "./routing/types.js";
