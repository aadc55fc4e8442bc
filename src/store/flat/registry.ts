/**
 * Which expert folders of expertsDir are active, persisted in <store>/experts.json (atomic
 * rewrite on every change).
 *
 * `known` is every folder name the registry has seen; `active` the subset in use. A folder
 * that appears in expertsDir and is not yet known is activated at the next open (so experts
 * dropped into the folder, such as the demo's, are picked up without a command), while an
 * expert the user removed stays known and therefore stays inactive until added again.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { checkSeal, seal } from "../../util/sealed-json.js";
import { join } from "node:path";
import { RouterRetrieverError } from "../../errors.js";
import { ADAPTER_CONFIG_FILE } from "../../experts/peft.js";
import { writeJsonAtomic } from "../../util/atomic.js";
import { foreignStoreError } from "./store-identity.js";

export const REGISTRY_FILE = "experts.json";
const FORMAT = "routerretriever-expert-registry";

interface RegistryFile {
  [key: string]: unknown;
  format: typeof FORMAT;
  version: 1;
  /** The store it belongs to (absent in registries written before store ids). */
  storeId?: string;
  active: string[];
  known: string[];
  updatedAt: string;
}

export class ExpertRegistry {
  private constructor(
    private readonly path: string,
    private activeSet: Set<string>,
    private knownSet: Set<string>,
    private readonly storeId: string | undefined,
  ) {}

  /**
   * Opens the registry. `required`: the store was created with its registry (store.json
   * version 2), so a missing file is a lost file, not a fresh store: re-discovering every expert
   * folder would silently re-activate experts the user removed.
   */
  static open(storeDir: string, opts: { storeId?: string; required?: boolean } = {}): ExpertRegistry {
    const path = join(storeDir, REGISTRY_FILE);
    if (!existsSync(path)) {
      if (opts.required) {
        throw new RouterRetrieverError(
          "PARSE_ERROR",
          `${path} is missing: the store records which experts are active there. Restore it from a backup, or, to start over with every expert folder active, ` +
            `write ${JSON.stringify({ format: FORMAT, version: 1, active: [], known: [] })} to it.`,
        );
      }
      return new ExpertRegistry(path, new Set(), new Set(), opts.storeId);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (err) {
      throw new RouterRetrieverError("PARSE_ERROR", `${path}: corrupt expert registry (${err instanceof SyntaxError ? "not valid JSON" : (err as Error).message}); restore it from a backup`, { cause: err });
    }
    const r = raw as Partial<RegistryFile>;
    const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
    if (typeof raw !== "object" || raw === null || r.format !== FORMAT || !strings(r.active) || !strings(r.known)) {
      throw new RouterRetrieverError("PARSE_ERROR", `${path}: not an expert registry (expected format "${FORMAT}" with string arrays "active" and "known")`);
    }
    checkSeal(raw as Record<string, unknown>, path);
    if (opts.storeId !== undefined && r.storeId !== undefined && r.storeId !== opts.storeId) {
      throw foreignStoreError(path, String(r.storeId), opts.storeId, REGISTRY_FILE);
    }
    return new ExpertRegistry(path, new Set(r.active), new Set([...r.known, ...r.active]), opts.storeId);
  }

  /** Writes an empty registry for a new store (before store.json, which marks the store as created). */
  static create(storeDir: string, storeId: string): void {
    const file: RegistryFile = { format: FORMAT, version: 1, storeId, active: [], known: [], updatedAt: new Date().toISOString() };
    writeJsonAtomic(join(storeDir, REGISTRY_FILE), seal(file));
  }

  get active(): string[] {
    return [...this.activeSet].sort();
  }

  get known(): string[] {
    return [...this.knownSet].sort();
  }

  isActive(name: string): boolean {
    return this.activeSet.has(name);
  }

  /** Folders of expertsDir that look like adapters and were never seen: to activate at open. */
  discover(expertsDir: string): string[] {
    return listExpertFolders(expertsDir).filter((n) => !this.knownSet.has(n));
  }

  /** Applies a change and persists it; the in-memory state changes only once the file is written. */
  update(change: { activate?: readonly string[]; deactivate?: readonly string[] }): void {
    const active = new Set(this.activeSet);
    const known = new Set(this.knownSet);
    for (const n of change.activate ?? []) (active.add(n), known.add(n));
    for (const n of change.deactivate ?? []) (active.delete(n), known.add(n));
    const file: RegistryFile = {
      format: FORMAT,
      version: 1,
      ...(this.storeId !== undefined ? { storeId: this.storeId } : {}),
      active: [...active].sort(),
      known: [...known].sort(),
      updatedAt: new Date().toISOString(),
    };
    writeJsonAtomic(this.path, seal(file));
    this.activeSet = active;
    this.knownSet = known;
  }
}

/** Sub-folders holding an adapter_config.json, sorted; hidden entries (temp folders being written) skipped. */
export function listExpertFolders(expertsDir: string | undefined): string[] {
  if (expertsDir === undefined || !existsSync(expertsDir)) return [];
  return readdirSync(expertsDir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith(".") && (e.isDirectory() || e.isSymbolicLink()) && existsSync(join(expertsDir, e.name, ADAPTER_CONFIG_FILE)))
    .map((e) => e.name)
    .sort();
}
