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
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import type { ExpertEncoder } from "../../experts/expert-encoder.js";
import type { Encoder } from "../../model/encoder.js";
import { addExpertToLibrary, removeExpertFromLibrary, scoreExpertOnLabels } from "../../routing/incremental.js";
import { loadPilotLibrary, savePilotLibrary, type LoadedPilotLibrary } from "../../routing/persist.js";
import type { DomainCorpus } from "../../routing/pilots.js";
import { BASE, type PilotLibrary } from "../../routing/types.js";
import { STORE_PILOTS_FILE } from "../../store/flat/store-open.js";
import { writeJsonAtomic } from "../../util/atomic.js";

export { STORE_PILOTS_FILE };
const ORIGIN_FILE = "pilots-origin.json";

/** Supplies the corpora (index + qrels) the labels were scored on, by domain name. Costly: called only when needed. */
export type PilotDomainsProvider = (domains: readonly string[], base: Encoder) => Promise<readonly DomainCorpus[]>;

export interface PilotAddOutcome {
  readonly pilotsAdded: number;
  readonly note?: string;
}

export class PilotState {
  private derived: { key: string; lib: PilotLibrary } | undefined;

  private constructor(
    private readonly storeDir: string,
    private full: LoadedPilotLibrary | undefined,
    /** Where `full` was read from (for health and messages). */
    public source: string | undefined,
    private readonly domains: PilotDomainsProvider | undefined,
    private readonly storeId: string | undefined,
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
    return new PilotState(storeDir, full, use, domains, storeId);
  }

  get hasLibrary(): boolean {
    return this.full !== undefined;
  }

  get hasLabels(): boolean {
    return this.full?.labels !== undefined;
  }

  /** The library to route with when exactly `active` experts (besides base) are loaded. */
  library(active: readonly string[]): PilotLibrary | undefined {
    const full = this.full;
    if (!full) return undefined;
    if (!full.labels) return full.library;
    const keep = new Set([BASE, ...active]);
    const key = full.library.experts.filter((e) => keep.has(e)).join("\u0000");
    if (this.derived?.key === key) return this.derived.lib;
    let lib = full.library;
    let labels = full.labels;
    for (const e of full.library.experts) {
      // removeExpertFromLibrary refuses to drop the last candidate; a library whose only
      // candidate is inactive routes nothing anyway (route() then falls back to base).
      if (keep.has(e) || labels.candidates.length === 1) continue;
      ({ library: lib, labels } = removeExpertFromLibrary(lib, labels, e));
    }
    this.derived = { key, lib };
    return lib;
  }

  /** Pilots that vote for `name` in the library routed with under `active`. */
  pilotCount(name: string, active: readonly string[]): number {
    return this.library(active)?.pilots.filter((p) => p.expert === name).length ?? 0;
  }

  knows(name: string): boolean {
    return this.full?.library.experts.includes(name) ?? false;
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
  }
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
