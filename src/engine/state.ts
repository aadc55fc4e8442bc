/** What the verbs share: one open store with its encoders. Internal to src/engine. */
import type { ExpertEncoder } from "../experts/expert-encoder.js";
import type { Encoder, LoadedModel } from "../model/encoder.js";
import type { RoutingRule } from "../routing/types.js";
import type { Store } from "../store/types.js";
import type { PilotState } from "./components/pilot-state.js";
import type { WriteLock } from "./components/write-lock.js";

export interface EngineState {
  readonly expertsDir: string | undefined;
  readonly model: LoadedModel;
  /** Plain base model: documents, and the first (routing) pass over queries. */
  readonly base: Encoder;
  /** Every active expert in one session: the second pass, each row with its own expert. */
  readonly experts: ExpertEncoder;
  readonly store: Store;
  /** Replaced when another process changed the pilot library (methods/sync.ts). */
  pilots: PilotState;
  /** Pulls the store's pilot library and opens it again (after another process changed it). */
  readonly reopenPilots: () => Promise<PilotState>;
  /** Expert names whose adapters the store itself holds (PostgreSQL); refreshed by sync. */
  storedExperts: string[];
  /** Stops following other processes' expert changes (set by open). */
  stopWatching: () => void;
  readonly rule: RoutingRule;
  readonly writes: WriteLock;
  /** Expert folders that failed to load at open or on add, by name: shown by listExperts. */
  readonly expertErrors: Map<string, string>;
  readonly warnings: string[];
  readonly openedAt: number;
  readonly warn: (message: string) => void;
  closed: boolean;
}
