/**
 * Activating an expert folder of expertsDir: validated load (PEFT layout, shapes, base model),
 * added to the running expert session without rebuilding it, recorded in the registry, and
 * given pilots:
 *   - when the folder carries routing evidence (routing.json, docs/routing-evidence.md) and the
 *     pilot library has never scored the expert: its domain's pilots are added as they are,
 *     nothing is scored (other experts on the new domain only with `scoreExisting`);
 *   - otherwise, when the library has none for it and labels + domain corpora allow it: the
 *     expert is scored on the library's labelled training queries (pilot-state.ts).
 * The evidence file is validated before anything changes, so a bad one fails the add cleanly.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import { asUnusableExpert, loadExpert } from "../../experts/peft.js";
import { loadRoutingEvidence, renameEvidenceExpert, ROUTING_EVIDENCE_FILE, type RoutingEvidence } from "../../routing/evidence.js";
import { checkExpertName } from "../../experts/expert-dir.js";
import type { EngineState } from "../state.js";
import type { AddExpertOptions, AddExpertResult } from "../types.js";
import { expertInfo } from "./list-experts.js";
import { scoreExpertsOnDomainLocked } from "./score-domain.js";

export async function addExpert(s: EngineState, name: string, opts: AddExpertOptions = {}): Promise<AddExpertResult> {
  checkExpertName(name);
  return s.writes.run(async () => {
    if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
    if (s.experts.has(name)) throw new RouterRetrieverError("CONFLICT", `expert "${name}" is already active`);
    const dir = await s.store.expertDir(name, s.expertsDir);
    let expert;
    let evidence: RoutingEvidence | undefined;
    try {
      expert = loadExpert(dir, s.model, { id: name, onWarning: s.warn });
      evidence = readEvidence(s, dir, name);
    } catch (err) {
      s.expertErrors.set(name, err instanceof Error ? err.message : String(err));
      throw asUnusableExpert(err);
    }
    s.experts.addExpert(expert);
    try {
      if (evidence) s.pilots.addEvidence(evidence);
      // Adapter first: a process told by the registry to load it must find it in the store.
      if (!s.storedExperts.includes(name)) await s.store.publishExpert(name, dir);
      await s.store.updateExperts({ activate: [name] });
    } catch (err) {
      s.experts.removeExpert(name);
      throw err;
    }
    s.expertErrors.delete(name);
    // A scoring failure must not undo a good expert: it stays active, unroutable, and says why.
    let outcome: { pilotsAdded: number; note?: string };
    try {
      outcome = s.pilots.hasEvidence(name) ? { pilotsAdded: s.pilots.pilotCount(name, s.experts.expertIds) } : await s.pilots.addExpert(name, expert.meta.domain, s.experts, s.base);
      if (outcome.pilotsAdded > 0) await s.store.pushPilots();
    } catch (err) {
      outcome = { pilotsAdded: 0, note: `expert "${name}" is active, but giving it pilots failed: ${err instanceof Error ? err.message : String(err)}` };
      s.warn(outcome.note!);
    }
    if (opts.scoreExisting && s.pilots.hasEvidence(name)) await scoreExpertsOnDomainLocked(s, name);
    const info = expertInfo(s, name, s.experts.expertIds, expert.meta.domain);
    const note = outcome.note ?? (info.routable ? undefined : `expert "${name}" is active, but the pilot library has no pilots for it, so the router cannot choose it`);
    return { expert: info, pilotsAdded: outcome.pilotsAdded, ...(note !== undefined ? { note } : {}) };
  });
}

/**
 * The folder's routing evidence, when it should be used: the library file has never scored
 * this expert and the store holds no evidence for it yet (a re-add reuses the store's copy,
 * which may hold other experts' scores added since).
 */
function readEvidence(s: EngineState, dir: string, name: string): RoutingEvidence | undefined {
  const path = join(dir, ROUTING_EVIDENCE_FILE);
  if (!existsSync(path) || s.pilots.fileKnows(name) || s.pilots.hasEvidence(name)) return undefined;
  const ev = renameEvidenceExpert(loadRoutingEvidence(path, s.model.spec.id, s.model.spec.config.hiddenSize), name);
  s.pilots.checkEvidence(ev);
  return ev;
}
