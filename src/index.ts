/**
 * routerretriever's library API. Everything a program needs to embed, index, search, evaluate,
 * train experts and route, with its types.
 *
 *   import { RouterRetriever, startService } from "routerretriever";
 *   const rr = await RouterRetriever.open({ store: "my-store", expertsDir: "experts", pilotsPath: "pilots.json" });
 */
export { RouterRetrieverError, type ErrorCode } from "./errors.js";
export type { JsonValue } from "./util/json.js";

// The engine: open (or create) a store, search with routing, add/remove experts and documents.
export * from "./engine/index.js";
// The HTTP service and web page over an open RouterRetriever.
export { startService, checkServiceOptions, SERVICE_VERSION, type ServiceOptions, type RunningService, type ServiceEngine, type ServiceLimits } from "./service/server.js";
// The bundled demo: sample corpus, experts and pilot library shipped with the package.
export { demoPaths, type DemoPaths } from "./service/demo.js";
// Storage: the embedded flat folder or PostgreSQL + pgvector, behind one interface.
export { openStore, isPostgresUrl, redactStoreLocation, type OpenStoreOptions } from "./store/open.js";
export type { Store, StoreSpec, StoreIntegrity, StoredHit, ExpertsState, ExpertsChange } from "./store/types.js";

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

// Workflows over the engine and training: a new domain from its documents alone.
export { addDomain, type AddDomainOptions, type AddDomainProgress, type AddDomainResult, type DomainStage } from "./workflows/add-domain.js";

// Training.
export { trainExpert, DEFAULT_LORA, type TrainExpertOptions, type TrainResult, type TrainEvent } from "./training/trainer.js";
export { loadTrainingPairs, trainingData, counterArgumentPairs, pseudoQueryPairs, TRAINING_SOURCES, type TrainingData, type TrainingPair, type TrainingSource } from "./data/pairs.js";

// Routing: pilot library (Algorithm 1, buildPilotLibrary), router rules, incremental experts, persistence.
export * from "./routing/index.js";
// Both the engine and routing/incremental.ts name an options type AddExpertOptions: the root
// gives the engine's (rr.addExpert); the pilot-library one is AddExpertToLibraryOptions.
export type { AddExpertOptions } from "./engine/index.js";
export type { AddExpertOptions as AddExpertToLibraryOptions } from "./routing/incremental.js";
