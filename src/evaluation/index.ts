export type { Doc, Query, Qrels, BeirDataset, GeneratedPair } from "../data/beir.js";
export {
  documentText,
  loadCorpus,
  loadQueries,
  loadQrels,
  qrelsPath,
  listQrelsSplits,
  loadBeirDataset,
  loadGeneratedQueries,
} from "../data/beir.js";
export type { ScoredDoc, QueryResults, Run, EvaluateOptions, MetricValues, Evaluation } from "./metrics.js";
export { DEFAULT_KS, metricNames, compareTrecEval, rankTrecEval, evaluateQuery, evaluateRun } from "./metrics.js";
export type { NumberedLine } from "../data/lines.js";
export { readLines, resolveDataFile } from "../data/lines.js";
