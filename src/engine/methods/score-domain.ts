/**
 * Giving the other active experts a say on a domain added with routing evidence: each is
 * scored on the evidence's queries against that domain's documents, read from the store (so
 * the documents must have been added). Costs one encoder pass per expert over a few hundred
 * queries; the library file's pilots are untouched.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import { createIndex } from "../../vectors/store.js";
import type { EngineState } from "../state.js";

export async function scoreExpertsOnDomain(s: EngineState, name: string): Promise<{ scored: number; pilots: number }> {
  return s.writes.run(async () => {
    if (s.closed) throw new RouterRetrieverError("CONFLICT", "this RouterRetriever is closed");
    return scoreExpertsOnDomainLocked(s, name);
  });
}

/** The same, for a caller already holding the write lock. */
export async function scoreExpertsOnDomainLocked(s: EngineState, name: string): Promise<{ scored: number; pilots: number }> {
  const ev = s.pilots.evidenceOf(name);
  if (!ev) throw new RouterRetrieverError("NOT_FOUND", `expert "${name}" was not added with routing evidence`);
  const have = await s.store.existing(ev.documentIds);
  const missing = ev.documentIds.filter((id) => !have.has(id));
  if (missing.length > 0) {
    throw new RouterRetrieverError("NOT_FOUND", `domain "${ev.domain}": ${missing.length} of its ${ev.documentIds.length} documents are not in the store (e.g. "${missing[0]}"); add them first`);
  }
  // A throwaway index of exactly the domain's documents: the evidence was scored on those alone.
  const tmp = mkdtempSync(join(tmpdir(), "rr-domain-"));
  try {
    const m = s.model.spec;
    const index = createIndex(join(tmp, "index"), { modelId: m.id, dims: m.config.hiddenSize, pooling: m.pooling, normalized: m.normalize });
    index.add(ev.documentIds, await s.store.vectorsOf(ev.documentIds));
    const others = s.experts.expertIds.filter((e) => e !== name);
    const scored = await s.pilots.scoreOnEvidence(name, others, s.experts, index);
    const lib = s.pilots.library(s.experts.expertIds);
    return { scored, pilots: lib?.pilots.filter((p) => p.domain === ev.domain).length ?? 0 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
