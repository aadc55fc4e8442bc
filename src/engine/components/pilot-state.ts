/**
 * The pilot library the router uses, and how it follows expert adds and removals.
 *
 * The file (routing/persist.ts format) holds a "full" library: every candidate ever scored,
 * plus, when saved with them, the per-query labels it came from. The library actually routed
 * with is derived from it for the current set of active experts:
 *   - with labels: every inactive candidate is removed with the routing module's
 *     removeExpertFromLibrary, so its training queries regroup to their next-best expert
 *     (exactly the library that was never given that expert);
 *   - without labels: the full library as is; route()'s `allowed` set keeps inactive experts'
 *     pilots out of the vote (their queries' pilots simply vanish).
 * Nothing is rewritten on remove, so re-adding a known expert needs no scoring. Adding an expert
 * the library has never seen needs its nDCG@10 on the labelled training queries, i.e. the labels
 * and the domains' corpora; the result (a new full library) is saved as the store's own copy,
 * <store>/pilots.json, which from then on takes precedence over the original file, unless that
 * file changed since the copy was made (recorded in <store>/pilots-origin.json).
 *
 * Routing evidence (routing/evidence.ts): an expert that brings its own domain's pilot material
 * (routing.json in its folder) is added without scoring anything. Its evidence is copied to
 * <store>/routing/<expert>.json, and while the expert is active the routed library is the one
 * above plus that domain's pilots (over the active candidates the evidence scored). An inactive
 * expert's evidence contributes nothing, so removing the expert removes its domain's pilots and
 * leaves the library exactly as before the add. Other experts' scores on the new domain are
 * added to the store's copy only when asked (`scoreOnEvidence`).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import type { ExpertEncoder } from "../../experts/expert-encoder.js";
import type { Encoder } from "../../model/encoder.js";
import { evidenceLibrary, loadRoutingEvidence, mergeLibraries, saveRoutingEvidence, scoreEvidenceCandidates, type RoutingEvidence } from "../../routing/evidence.js";
import { addExpertToLibrary, removeExpertFromLibrary, scoreExpertOnLabels } from "../../routing/incremental.js";
import { loadPilotLibrary, savePilotLibrary, type LoadedPilotLibrary } from "../../routing/persist.js";
import type { DomainCorpus } from "../../routing/pilots.js";
import type { VectorIndex } from "../../vectors/store.js";
import { BASE, type PilotLibrary } from "../../routing/types.js";
import { STORE_PILOTS_FILE } from "../../store/flat/store-open.js";
import { writeJsonAtomic } from "../../util/atomic.js";

export { STORE_PILOTS_FILE };
/** <store>/routing/<expert>.json: the routing evidence of experts added with one. */
export const STORE_EVIDENCE_DIR = "routing";
const ORIGIN_FILE = "pilots-origin.json";

/** Supplies the corpora (index + qrels) the labels were scored on, by domain name. Costly: called only when needed. */
export type PilotDomainsProvider = (domains: readonly string[], base: Encoder) => Promise<readonly DomainCorpus[]>;

export interface PilotAddOutcome {
  readonly pilotsAdded: number;
  readonly note?: string;
}

export class PilotState {
  private derived: { key: string; lib: PilotLibrary | undefined } | undefined;
  private baseDerived: { key: string; lib: PilotLibrary } | undefined;

  private constructor(
    private readonly storeDir: string,
    private full: LoadedPilotLibrary | undefined,
    /** Where `full` was read from (for health and messages). */
    public source: string | undefined,
    private readonly domains: PilotDomainsProvider | undefined,
    private readonly storeId: string | undefined,
    private readonly evidence: Map<string, RoutingEvidence>,
  ) {}

  static open(storeDir: string, modelId: string, pilotsPath: string | undefined, domains: PilotDomainsProvider | undefined, warn: (m: string) => void, storeId?: string): PilotState {
    const copy = join(storeDir, STORE_PILOTS_FILE);
    const originPath = join(storeDir, ORIGIN_FILE);
    const origin = readOrigin(originPath);
    // The copy is written before its origin record (persist), so an origin without a copy
    // means the copy was lost, with the pilots of every expert added since: refuse, not fall back.
    if (existsSync(originPath) && !existsSync(copy)) {
      throw new RouterRetrieverError(
        "PARSE_ERROR",
        `${copy} is missing but ${originPath} records that the store derived its own pilot library: restore ${STORE_PILOTS_FILE} from a backup, ` +
          `or delete ${originPath} to fall back to the original library (experts added since then lose their pilots).`,
      );
    }
    const src = pilotsPath !== undefined ? resolve(pilotsPath) : undefined;
    let use: string | undefined = src !== undefined && existsSync(src) ? src : undefined;
    if (existsSync(copy)) {
      const srcChanged = use !== undefined && origin !== undefined && origin.path === use && origin.sha256 !== sha256File(use);
      if (srcChanged) warn(`${use} changed since the store's own pilot library was derived from it; using ${use} (experts added since then need their pilots again)`);
      else use = copy;
    }
    if (src !== undefined && !existsSync(src) && use === undefined) warn(`pilot library ${src} not found: every query will use the base model`);
    const full = use !== undefined ? loadPilotLibrary(use, modelId) : undefined;
    if (use === copy && storeId !== undefined && full?.storeId !== undefined && full.storeId !== storeId) {
      throw new RouterRetrieverError("PARSE_ERROR", `${copy}: belongs to another store (store id ${full.storeId}, this store is ${storeId}); restore this store's own copy from a backup`);
    }
    return new PilotState(storeDir, full, use, domains, storeId, loadStoreEvidence(join(storeDir, STORE_EVIDENCE_DIR), modelId));
  }

  get hasLibrary(): boolean {
    return this.full !== undefined || this.evidence.size > 0;
  }

  get hasLabels(): boolean {
    return this.full?.labels !== undefined;
  }

  /** The library to route with when exactly `active` experts (besides base) are loaded: the file's, plus active experts' evidence. */
  library(active: readonly string[]): PilotLibrary | undefined {
    const withEvidence = [...this.evidence.keys()].filter((e) => active.includes(e)).sort();
    const key = JSON.stringify([[...active].sort(), withEvidence]);
    if (this.derived?.key === key) return this.derived.lib;
    const allowed = new Set(active);
    // An active expert's evidence supersedes the file's pilots of its domain (checkEvidence
    // allows that only for a domain without an expert of its own in the file).
    const superseded = new Set(withEvidence.map((e) => this.evidence.get(e)!.domain));
    let file = this.fileLibrary(active);
    if (file && superseded.size > 0) {
      file = { ...file, domains: file.domains.filter((d) => !superseded.has(d)), pilots: file.pilots.filter((p) => !superseded.has(p.domain)) };
    }
    const lib = mergeLibraries(
      file,
      withEvidence.map((e) => evidenceLibrary(this.evidence.get(e)!, allowed)),
    );
    this.derived = { key, lib };
    return lib;
  }

  /** The pilot library file's part of the routed library. */
  private fileLibrary(active: readonly string[]): PilotLibrary | undefined {
    const full = this.full;
    if (!full) return undefined;
    if (!full.labels) return full.library;
    const keep = new Set([BASE, ...active]);
    const key = full.library.experts.filter((e) => keep.has(e)).join("\u0000");
    if (this.baseDerived?.key === key) return this.baseDerived.lib;
    let lib = full.library;
    let labels = full.labels;
    for (const e of full.library.experts) {
      // removeExpertFromLibrary refuses to drop the last candidate; a library whose only
      // candidate is inactive routes nothing anyway (route() then falls back to base).
      if (keep.has(e) || labels.candidates.length === 1) continue;
      ({ library: lib, labels } = removeExpertFromLibrary(lib, labels, e));
    }
    this.baseDerived = { key, lib };
    return lib;
  }

  /** Pilots that vote for `name` in the library routed with under `active`. */
  pilotCount(name: string, active: readonly string[]): number {
    return this.library(active)?.pilots.filter((p) => p.expert === name).length ?? 0;
  }

  knows(name: string): boolean {
    return (this.full?.library.experts.includes(name) ?? false) || this.evidence.has(name);
  }

  /** The pilot library file already scored this expert (its own evidence is then not needed). */
  fileKnows(name: string): boolean {
    return this.full?.library.experts.includes(name) ?? false;
  }

  hasEvidence(name: string): boolean {
    return this.evidence.has(name);
  }

  evidenceOf(name: string): RoutingEvidence | undefined {
    return this.evidence.get(name);
  }

  /**
   * Whether an expert's routing evidence may give its domain pilots: refused when another
   * expert's evidence has that domain, or when the library file's domain has an expert of its
   * own (its labels say so, or, without labels, an expert is named like the domain). A file
   * domain served by the base alone (the demo library's cisi and cacm, scored on
   * pseudo-queries) is superseded by the evidence while its expert is active.
   */
  checkEvidence(ev: RoutingEvidence): void {
    const file = this.full;
    const owned = file?.library.domains.includes(ev.domain) && (file.labels ? file.labels.domains.some((d) => d.name === ev.domain && d.expert !== undefined) : file.library.experts.includes(ev.domain));
    const clash = owned ? "the pilot library" : [...this.evidence.values()].find((x) => x.domain === ev.domain && x.expert !== ev.expert)?.expert;
    if (clash !== undefined) {
      throw new RouterRetrieverError("CONFLICT", `domain "${ev.domain}" of expert "${ev.expert}" already has pilots (from ${clash === "the pilot library" ? clash : `expert "${clash}"`}); name the domain differently`);
    }
  }

  addEvidence(ev: RoutingEvidence): void {
    this.checkEvidence(ev);
    const dir = join(this.storeDir, STORE_EVIDENCE_DIR);
    mkdirSync(dir, { recursive: true });
    saveRoutingEvidence(join(dir, `${ev.expert}.json`), ev);
    this.evidence.set(ev.expert, ev);
    this.derived = undefined;
  }

  /**
   * Scores `candidates` (other active experts) on `name`'s evidence queries against `index`
   * (the base vectors of exactly the evidence's documents), so they can win some of that
   * domain's queries. Returns how many candidates were newly scored.
   */
  async scoreOnEvidence(name: string, candidates: readonly string[], encoder: ExpertEncoder, index: VectorIndex): Promise<number> {
    const ev = this.evidence.get(name);
    if (!ev) throw new RouterRetrieverError("NOT_FOUND", `expert "${name}" was not added with routing evidence`);
    const next = await scoreEvidenceCandidates({ encoder, evidence: ev, index, candidates });
    if (next === ev) return 0;
    this.addEvidence(next);
    return next.candidates.length - ev.candidates.length;
  }

  /**
   * Gives a newly activated expert pilots when the library has never seen it: scores it on the
   * labelled training queries and regroups (routing/incremental.ts). Never throws for a missing
   * prerequisite; it explains it in `note` instead, since the expert itself is still usable.
   */
  async addExpert(name: string, domain: string | undefined, encoder: ExpertEncoder, base: Encoder): Promise<PilotAddOutcome> {
    const full = this.full;
    const cannot = (why: string): PilotAddOutcome => ({
      pilotsAdded: 0,
      note: `expert "${name}" is active, but the router cannot choose it until the pilot library has pilots for it: ${why}`,
    });
    if (!full) return cannot("no pilot library is loaded");
    if (full.library.experts.includes(name)) return { pilotsAdded: 0 };
    if (!full.labels) return cannot(`${this.source} has no pilot labels (save the library with its labels to allow incremental adds)`);
    if (!this.domains) return cannot("no domain corpora were configured to score the new expert on the labelled training queries");
    const corpora = await this.domains(full.labels.domains.map((d) => d.name), base);
    const scores = await scoreExpertOnLabels({ encoder, labels: full.labels, domains: corpora, expertId: name });
    const ownDomain = full.labels.domains.find((d) => d.name === domain && d.expert === undefined)?.name;
    const next = addExpertToLibrary(full.library, full.labels, name, scores, ownDomain !== undefined ? { domain: ownDomain } : {});
    this.commitLibrary({ library: next.library, labels: next.labels });
    return { pilotsAdded: next.library.pilots.filter((p) => p.expert === name).length };
  }

  /** @internal Makes `next` the store's own full library (addExpert's commit; tests build stores with it). */
  commitLibrary(next: LoadedPilotLibrary): void {
    const copy = join(this.storeDir, STORE_PILOTS_FILE);
    // Copy first: a crash between the two writes leaves a copy without an origin record, which
    // open uses as is; an origin record without a copy can then only mean a lost copy.
    savePilotLibrary(copy, next.library, next.labels, this.storeId !== undefined ? { storeId: this.storeId } : {});
    if (this.source !== undefined && this.source !== copy) writeJsonAtomic(join(this.storeDir, ORIGIN_FILE), { path: this.source, sha256: sha256File(this.source) });
    this.full = next;
    this.source = copy;
    this.derived = undefined;
    this.baseDerived = undefined;
  }
}

/** Every <expert>.json of the store's evidence folder, validated (a bad file fails the open, naming it). */
function loadStoreEvidence(dir: string, modelId: string): Map<string, RoutingEvidence> {
  const out = new Map<string, RoutingEvidence>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".json") && !n.startsWith(".")).sort()) {
    const path = join(dir, f);
    const ev = loadRoutingEvidence(path, modelId);
    const name = f.slice(0, -".json".length);
    if (ev.expert !== name) throw new RouterRetrieverError("PARSE_ERROR", `${path}: evidence for expert "${ev.expert}" in the file of expert "${name}"`);
    out.set(name, ev);
  }
  return out;
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function readOrigin(path: string): { path: string; sha256: string } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const o = JSON.parse(readFileSync(path, "utf8")) as { path?: unknown; sha256?: unknown };
    if (typeof o.path === "string" && typeof o.sha256 === "string") return { path: o.path, sha256: o.sha256 };
  } catch {
    // An unreadable origin only means "unknown": the store's own copy is then trusted.
  }
  return undefined;
}

export function assertLibraryFits(lib: PilotLibrary | undefined, dims: number, where: string): void {
  if (lib && lib.dims !== dims) throw new RouterRetrieverError("SHAPE_MISMATCH", `${where}: pilot library has ${lib.dims}-dim pilots, the model embeds in ${dims}`);
}
