/**
 * Opening a store: model, the two sessions (plain base; stacked experts), the corpus, the
 * expert registry (activating expert folders that appeared since last time) and the pilot
 * library. A store folder is created on first open.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { ExpertEncoder } from "../../experts/expert-encoder.js";
import { loadExpert } from "../../experts/peft.js";
import type { LoraExpert } from "../../experts/types.js";
import { Encoder, loadModel } from "../../model/encoder.js";
import { resolveModelSpec, type ModelSpec } from "../../model/spec.js";
import { domainModelOf } from "../../routing/domain-model.js";
import { DEFAULT_RULE } from "../../routing/types.js";
import { loadRoutingEvidence, renameEvidenceExpert, ROUTING_EVIDENCE_FILE } from "../../routing/evidence.js";
import { checkStoreOptions, openStore } from "../../store/open.js";
import { listExpertFolders } from "../../store/flat/registry.js";
import type { Store } from "../../store/types.js";
import { assertLibraryFits, PilotState, type PilotDomainsProvider } from "../components/pilot-state.js";
import { WriteLock } from "../components/write-lock.js";
import type { EngineState } from "../state.js";
import type { OpenOptions } from "../types.js";
import { syncFromStore } from "./sync.js";

export interface InternalOpenOptions extends OpenOptions {
  /** Corpora for scoring a never-seen expert on the pilot labels (see PilotState.addExpert). */
  readonly pilotDomains?: PilotDomainsProvider;
}

export async function openState(opts: InternalOpenOptions): Promise<EngineState> {
  const expertsDir = opts.expertsDir === undefined ? undefined : resolve(opts.expertsDir);
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    (opts.onWarning ?? ((x: string) => console.warn(`routerretriever: ${x}`)))(m);
  };
  const progress = (stage: string, done: number, total: number): void => opts.onProgress?.({ stage, done, total });

  // Store options are checked before the model loads: a typo must not cost seconds.
  checkStoreOptions(opts.store, opts);
  const spec: ModelSpec = typeof opts.model === "object" ? opts.model : resolveModelSpec(opts.model);
  progress("model", 0, 1);
  const model = loadModel(spec);
  const storeSpec = { modelId: spec.id, dims: spec.config.hiddenSize, pooling: spec.pooling, normalized: spec.normalize };
  const store = await openStore(opts.store, storeSpec, { onWarning: warn, exactSearch: opts.exactSearch, efSearch: opts.efSearch, onVerifyProgress: (done, total) => progress("verify", done, total) });
  try {
    return await openWithStore(opts, store, model, expertsDir, warn, warnings, progress);
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function openWithStore(
  opts: InternalOpenOptions,
  store: Store,
  model: ReturnType<typeof loadModel>,
  expertsDir: string | undefined,
  warn: (m: string) => void,
  warnings: string[],
  progress: (stage: string, done: number, total: number) => void,
): Promise<EngineState> {
  const spec = model.spec;
  const reopenPilots = async (): Promise<PilotState> => {
    await store.pullPilots();
    return PilotState.open(store.localDir, spec.id, opts.pilotsPath, opts.pilotDomains, warn, store.storeId);
  };
  const pilots = await reopenPilots();
  progress("model", 1, 1);

  // Experts: the registry's active ones plus folders of expertsDir never seen before (a folder
  // dropped there is picked up without a command; one the user removed stays removed).
  const registry = await store.readExperts();
  const known = new Set(registry.known);
  const stored = await store.storedExperts();
  const fresh = listExpertFolders(expertsDir).filter((n) => !known.has(n));
  const wanted = [...new Set([...registry.active, ...fresh])].sort();
  const expertErrors = new Map<string, string>();
  const loaded: LoraExpert[] = [];
  for (const [i, name] of wanted.entries()) {
    progress("experts", i, wanted.length);
    try {
      const dir = await store.expertDir(name, expertsDir);
      loaded.push(loadExpert(dir, model, { id: name, onWarning: warn }));
      if (!stored.includes(name)) await store.publishExpert(name, dir);
      if (fresh.includes(name)) adoptEvidence(pilots, dir, name, spec.id, spec.config.hiddenSize, warn);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      expertErrors.set(name, msg);
      warn(`expert "${name}" not loaded: ${msg}`);
    }
  }
  progress("experts", wanted.length, wanted.length);
  const freshOk = fresh.filter((n) => !expertErrors.has(n));
  if (freshOk.length > 0) await store.updateExperts({ activate: freshOk });

  progress("sessions", 0, 2);
  const threads = opts.threads ?? 1;
  const precision = opts.precision ?? "fp32";
  const sessions = opts.sessions ?? 1;
  const base = await Encoder.create(model, { threads, precision, sessions });
  progress("sessions", 1, 2);
  let experts: ExpertEncoder;
  try {
    experts = await ExpertEncoder.create(model, loaded, { threads, precision, sessions });
  } catch (err) {
    await base.close();
    throw err;
  }
  progress("sessions", 2, 2);
  const routed = pilots.library(experts.expertIds);
  assertLibraryFits(routed, spec.config.hiddenSize, pilots.source ?? "pilot library");
  // The linear domain model is fitted at its first use (about 0.5 s for the demo's library): now, not on a user's first query.
  const rule = opts.rule ?? DEFAULT_RULE;
  if (routed?.instances && rule.domainModel === "linear") domainModelOf(routed.instances, routed.dims);
  const active = experts.expertIds;
  const unroutable = active.filter((e) => pilots.pilotCount(e, active) === 0);
  if (pilots.hasLibrary && unroutable.length > 0) warn(`active experts without pilots (the router cannot choose them): ${unroutable.join(", ")}`);

  const s: EngineState = {
    expertsDir,
    model,
    base,
    experts,
    store,
    pilots,
    reopenPilots,
    storedExperts: await store.storedExperts(),
    stopWatching: () => {},
    rule,
    writes: new WriteLock(),
    expertErrors,
    warnings,
    openedAt: Date.now(),
    warn,
    closed: false,
  };
  // Another process on the same (PostgreSQL) store added or removed an expert, or extended the
  // pilot library: follow it. The flat store never fires (one process per folder).
  s.stopWatching = store.watch(() => syncFromStore(s));
  return s;
}

/**
 * A folder dropped into expertsDir with its routing evidence (routing.json, e.g. from
 * train-expert or add-domain) gets its domain's pilots when first seen, as `addExpert` would
 * give them. A bad or clashing evidence file leaves the expert active without pilots and says why.
 */
function adoptEvidence(pilots: PilotState, dir: string, name: string, modelId: string, dims: number, warn: (m: string) => void): void {
  const path = join(dir, ROUTING_EVIDENCE_FILE);
  if (!existsSync(path) || pilots.fileKnows(name) || pilots.hasEvidence(name)) return;
  try {
    pilots.addEvidence(renameEvidenceExpert(loadRoutingEvidence(path, modelId, dims), name));
  } catch (err) {
    warn(`expert "${name}": its routing evidence was not used: ${err instanceof Error ? err.message : String(err)}`);
  }
}
