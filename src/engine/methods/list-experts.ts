/** Every expert the user can see: the active ones, and folders of expertsDir that could be added. */
import { listExpertFolders } from "../../store/flat/registry.js";
import type { EngineState } from "../state.js";
import type { ExpertInfo } from "../types.js";

export function listExperts(s: EngineState): ExpertInfo[] {
  const active = s.experts.expertIds;
  const byName = new Map(s.experts.experts.map((e) => [e.id, e]));
  const names = [...new Set([...active, ...listExpertFolders(s.expertsDir), ...s.storedExperts, ...s.expertErrors.keys()])].sort();
  return names.map((name) => expertInfo(s, name, active, byName.get(name)?.meta.domain));
}

export function expertInfo(s: EngineState, name: string, active: readonly string[], domain?: string): ExpertInfo {
  const isActive = active.includes(name);
  const pilots = isActive ? s.pilots.pilotCount(name, active) : 0;
  const error = s.expertErrors.get(name);
  return {
    name,
    active: isActive,
    routable: isActive && pilots > 0,
    pilots,
    ...(domain !== undefined ? { domain } : {}),
    ...(error !== undefined && !isActive ? { error } : {}),
  };
}
