/** What the verbs share: one open store with its encoders. Internal to src/engine. */
import type { ExpertEncoder } from "../experts/expert-encoder.js";
import type { Encoder, LoadedModel } from "../model/encoder.js";
import type { RoutingRule } from "../routing/types.js";
import type { CorpusStore } from "../store/flat/corpus.js";
import type { ExpertRegistry } from "../store/flat/registry.js";
import type { PilotState } from "./components/pilot-state.js";
import type { WriteLock } from "./components/write-lock.js";

export interface EngineState {
  readonly storeDir: string;
  readonly expertsDir: string;
  readonly model: LoadedModel;
  /** Plain base model: documents, and the first (routing) pass over queries. */
  readonly base: Encoder;
  /** Every active expert in one session: the second pass, each row with its own expert. */
  readonly experts: ExpertEncoder;
  readonly corpus: CorpusStore;
  readonly registry: ExpertRegistry;
  readonly pilots: PilotState;
  readonly rule: RoutingRule;
  readonly writes: WriteLock;
  /** Expert folders that failed to load at open or on add, by name: shown by listExperts. */
  readonly expertErrors: Map<string, string>;
  readonly warnings: string[];
  readonly openedAt: number;
  readonly warn: (message: string) => void;
  closed: boolean;
}
