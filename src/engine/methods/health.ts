/** Liveness plus the numbers an operator checks first. */
import type { EngineState } from "../state.js";
import type { Health } from "../types.js";
import { listExperts } from "./list-experts.js";

export function health(s: EngineState): Health {
  const experts = listExperts(s);
  const active = s.experts.expertIds;
  return {
    status: "ok",
    modelId: s.model.spec.id,
    dims: s.base.dims,
    documents: s.corpus.size,
    experts: { active: active.length, routable: experts.filter((e) => e.routable).length, available: experts.length },
    pilots: s.pilots.library(active)?.pilots.length ?? 0,
    rule: s.rule,
    storeDir: s.storeDir,
    integrity: s.corpus.integrity,
    warnings: [...s.warnings],
    uptimeSeconds: Math.round((Date.now() - s.openedAt) / 1000),
  };
}
