/**
 * Deactivating an expert: dropped from the expert session (queries already in flight keep the
 * state they started with) and from routing; its folder and its pilots stay, so adding it back
 * is instant.
 */
import { RouterRetrieverError } from "../../errors.js";
import { checkExpertName } from "../../experts/expert-dir.js";
import type { EngineState } from "../state.js";

export async function removeExpert(s: EngineState, name: string): Promise<{ removed: string; active: string[] }> {
  checkExpertName(name);
  return s.writes.run(async () => {
    if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
    if (!s.experts.has(name)) throw new RouterRetrieverError("NOT_FOUND", `expert "${name}" is not active`);
    await s.store.updateExperts({ deactivate: [name] });
    s.experts.removeExpert(name);
    return { removed: name, active: [...s.experts.expertIds] };
  });
}
