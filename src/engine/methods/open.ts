/**
 * Opening a store: model, the two sessions (plain base; stacked experts), the corpus, the
 * expert registry (activating expert folders that appeared since last time) and the pilot
 * library. A store folder is created on first open.
 */
import { resolve } from "node:path";
import { ExpertEncoder } from "../../experts/expert-encoder.js";
import { loadExpert } from "../../experts/peft.js";
import type { LoraExpert } from "../../experts/types.js";
import { Encoder, loadModel } from "../../model/encoder.js";
import { resolveModelSpec, type ModelSpec } from "../../model/spec.js";
import { PAPER_RULE } from "../../routing/types.js";
import { assertLibraryFits, type PilotDomainsProvider } from "../components/pilot-state.js";
import { openStoreParts } from "../components/store-open.js";
import { resolveExpertDir } from "../components/safe-path.js";
import { WriteLock } from "../components/write-lock.js";
import type { EngineState } from "../state.js";
import type { OpenOptions } from "../types.js";

export { STORE_FILE } from "../components/store-open.js";

export interface InternalOpenOptions extends OpenOptions {
  /** Corpora for scoring a never-seen expert on the pilot labels (see PilotState.addExpert). */
  readonly pilotDomains?: PilotDomainsProvider;
}

export async function openState(opts: InternalOpenOptions): Promise<EngineState> {
  const storeDir = resolve(opts.storeDir);
  const expertsDir = resolve(opts.expertsDir);
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    (opts.onWarning ?? ((x: string) => console.warn(`routerretriever: ${x}`)))(m);
  };
  const progress = (stage: string, done: number, total: number): void => opts.onProgress?.({ stage, done, total });

  const spec: ModelSpec = typeof opts.model === "object" ? opts.model : resolveModelSpec(opts.model);
  const indexSpec = { modelId: spec.id, dims: spec.config.hiddenSize, pooling: spec.pooling, normalized: spec.normalize };
  const { corpus, registry, pilots, tempFilesRemoved } = openStoreParts(storeDir, {
    spec: indexSpec,
    pilotsPath: opts.pilotsPath,
    pilotDomains: opts.pilotDomains,
    warn,
    onVerifyProgress: (done, total) => progress("verify", done, total),
  });
  if (tempFilesRemoved.length > 0) warn(`removed ${tempFilesRemoved.length} temp file(s) left by an interrupted write: ${tempFilesRemoved.join(", ")}`);
  progress("model", 0, 1);
  const model = loadModel(spec);
  progress("model", 1, 1);

  // Experts: the registry's active ones plus folders never seen before (see expert-registry.ts).
  const fresh = registry.discover(expertsDir);
  const wanted = [...new Set([...registry.active, ...fresh])].sort();
  const expertErrors = new Map<string, string>();
  const loaded: LoraExpert[] = [];
  wanted.forEach((name, i) => {
    progress("experts", i, wanted.length);
    try {
      loaded.push(loadExpert(resolveExpertDir(expertsDir, name), model, { id: name, onWarning: warn }));
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      expertErrors.set(name, msg);
      warn(`expert "${name}" not loaded: ${msg}`);
    }
  });
  progress("experts", wanted.length, wanted.length);
  if (fresh.length > 0) registry.update({ activate: fresh.filter((n) => !expertErrors.has(n)) });

  progress("sessions", 0, 2);
  const threads = opts.threads ?? 1;
  const precision = opts.precision ?? "fp32";
  const base = await Encoder.create(model, { threads, precision });
  progress("sessions", 1, 2);
  let experts: ExpertEncoder;
  try {
    experts = await ExpertEncoder.create(model, loaded, { threads, precision });
  } catch (err) {
    await base.close();
    throw err;
  }
  progress("sessions", 2, 2);
  assertLibraryFits(pilots.library(experts.expertIds), spec.config.hiddenSize, pilots.source ?? "pilot library");
  const active = experts.expertIds;
  const unroutable = active.filter((e) => pilots.pilotCount(e, active) === 0);
  if (pilots.hasLibrary && unroutable.length > 0) warn(`active experts without pilots (the router cannot choose them): ${unroutable.join(", ")}`);

  return {
    storeDir,
    expertsDir,
    model,
    base,
    experts,
    corpus,
    registry,
    pilots,
    rule: opts.rule ?? PAPER_RULE,
    writes: new WriteLock(),
    expertErrors,
    warnings,
    openedAt: Date.now(),
    warn,
    closed: false,
  };
}
