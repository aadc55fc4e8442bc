/**
 * Following changes other processes made to a shared (PostgreSQL) store: the active experts
 * and the pilot library. Called by the store's watch (open.ts), under the write lock so it never
 * interleaves with this process's own add/remove. Queries in flight keep the expert session
 * state they started with (ExpertEncoder swaps whole states).
 */
import { loadExpert } from "../../experts/peft.js";
import type { EngineState } from "../state.js";

export async function syncFromStore(s: EngineState): Promise<void> {
  await s.writes.run(async () => {
    if (s.closed) return;
    const registry = await s.store.readExperts();
    s.storedExperts = await s.store.storedExperts();
    const active = new Set(registry.active);
    for (const id of [...s.experts.expertIds]) if (!active.has(id)) s.experts.removeExpert(id);
    for (const name of registry.active) {
      if (s.experts.has(name)) continue;
      try {
        const dir = await s.store.expertDir(name, s.expertsDir);
        s.experts.addExpert(loadExpert(dir, s.model, { id: name, onWarning: s.warn }));
        s.expertErrors.delete(name);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        s.expertErrors.set(name, msg);
        s.warn(`expert "${name}", activated by another process, not loaded: ${msg}`);
      }
    }
    s.pilots = await s.reopenPilots();
  });
}
