/**
 * Activating an expert folder of expertsDir: validated load (PEFT layout, shapes, base model),
 * added to the running expert session without rebuilding it, recorded in the registry, and
 * given pilots when the library has none for it and labels + domain corpora allow it.
 */
import { RouterRetrieverError } from "../../errors.js";
import { asUnusableExpert, loadExpert } from "../../experts/peft.js";
import { checkExpertName } from "../components/safe-path.js";
import type { EngineState } from "../state.js";
import type { AddExpertResult } from "../types.js";
import { expertInfo } from "./list-experts.js";

export async function addExpert(s: EngineState, name: string): Promise<AddExpertResult> {
  checkExpertName(name);
  return s.writes.run(async () => {
    if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
    if (s.experts.has(name)) throw new RouterRetrieverError("CONFLICT", `expert "${name}" is already active`);
    const dir = await s.store.expertDir(name, s.expertsDir);
    let expert;
    try {
      expert = loadExpert(dir, s.model, { id: name, onWarning: s.warn });
    } catch (err) {
      s.expertErrors.set(name, err instanceof Error ? err.message : String(err));
      throw asUnusableExpert(err);
    }
    s.experts.addExpert(expert);
    try {
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
      outcome = await s.pilots.addExpert(name, expert.meta.domain, s.experts, s.base);
      if (outcome.pilotsAdded > 0) await s.store.pushPilots();
    } catch (err) {
      outcome = { pilotsAdded: 0, note: `expert "${name}" is active, but giving it pilots failed: ${err instanceof Error ? err.message : String(err)}` };
      s.warn(outcome.note!);
    }
    const info = expertInfo(s, name, s.experts.expertIds, expert.meta.domain);
    const note = outcome.note ?? (info.routable ? undefined : `expert "${name}" is active, but the pilot library has no pilots for it, so the router cannot choose it`);
    return { expert: info, pilotsAdded: outcome.pilotsAdded, ...(note !== undefined ? { note } : {}) };
  });
}
