/** Liveness plus the numbers an operator checks first. */
import type { EngineState } from "../state.js";
import type { Health } from "../types.js";
import { listExperts } from "./list-experts.js";

export async function health(s: EngineState): Promise<Health> {
  const experts = listExperts(s);
  const active = s.experts.expertIds;
  return {
    status: "ok",
    modelId: s.model.spec.id,
    dims: s.base.dims,
    documents: await s.store.count(),
    experts: { active: active.length, routable: experts.filter((e) => e.routable).length, available: experts.length },
    pilots: s.pilots.library(active)?.pilots.length ?? 0,
    rule: s.rule,
    store: s.store.location,
    integrity: s.store.integrity,
    warnings: [...s.warnings],
    uptimeSeconds: Math.round((Date.now() - s.openedAt) / 1000),
  };
}
