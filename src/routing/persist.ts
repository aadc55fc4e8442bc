/**
 * Pilot library (and optionally its labels) on disk: one JSON file, written atomically, so a
 * library and the labels it was derived from can never be torn apart by a crash. Vectors are
 * base64 of little-endian float32, which round-trips them bit for bit (decimal JSON numbers
 * would too, at twice the size). Loading validates every field and refuses a library built
 * for another base model (MODEL_MISMATCH): its pilots live in that model's embedding space.
 */
import { RouterRetrieverError } from "../errors.js";
import { sameModelId } from "../experts/peft.js";
import { readRegularFile } from "../model/safetensors.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { checkSeal, seal } from "../util/sealed-json.js";
import { instancesFromLabels, type AllZeroRule, type DomainInfo, type PilotLabel, type PilotLabels } from "./pilots.js";
import type { Pilot, PilotLibrary } from "./types.js";

export const PILOT_LIBRARY_FORMAT = "routerretriever-pilot-library";
export const PILOT_LIBRARY_VERSION = 1;
/** Pilot files are shared like adapters; a library with labels for 10 domains x 500 queries is ~20 MB. */
const MAX_PILOT_FILE_BYTES = 512 * 1024 * 1024;

export interface SavePilotOptions {
  /** The store this copy belongs to (a store's own copy; see engine/components/pilot-state.ts). */
  readonly storeId?: string;
}

export function savePilotLibrary(path: string, lib: PilotLibrary, labels?: PilotLabels, opts: SavePilotOptions = {}): void {
  if (labels !== undefined && (labels.baseModelId !== lib.baseModelId || labels.dims !== lib.dims)) {
    throw new RouterRetrieverError("CONFLICT", `labels (${labels.baseModelId}, ${labels.dims} dims) do not belong to this library (${lib.baseModelId}, ${lib.dims} dims)`);
  }
  const doc = {
    format: PILOT_LIBRARY_FORMAT,
    version: PILOT_LIBRARY_VERSION,
    savedAt: new Date().toISOString(),
    ...(opts.storeId !== undefined ? { storeId: opts.storeId } : {}),
    baseModelId: lib.baseModelId,
    dims: lib.dims,
    experts: lib.experts,
    domains: lib.domains,
    pilots: lib.pilots.map((p) => ({ expert: p.expert, domain: p.domain, size: p.size, vector: encodeF32(checkLen(p.vector, lib.dims, `pilot ${p.domain}/${p.expert}`)) })),
    ...(labels !== undefined
      ? {
          labels: {
            candidates: labels.candidates,
            domains: labels.domains,
            allZero: labels.allZero,
            sampling: labels.sampling,
            items: labels.labels.map((l) => ({
              domain: l.domain,
              queryId: l.queryId,
              text: l.text,
              best: l.best,
              scores: l.scores,
              vector: encodeF32(checkLen(l.vector, lib.dims, `label ${l.domain}/${l.queryId}`)),
            })),
          },
        }
      : {}),
  };
  writeJsonAtomic(path, seal(doc));
}

export interface LoadedPilotLibrary {
  readonly library: PilotLibrary;
  /** Present when the file was saved with labels. */
  readonly labels?: PilotLabels;
  /** Present in a store's own copy: the store it belongs to. */
  readonly storeId?: string;
}

/** Reads and validates a saved library; `baseModelId` is the model the caller will embed queries with. */
export function loadPilotLibrary(path: string, baseModelId: string): LoadedPilotLibrary {
  let raw: unknown;
  const text = readRegularFile(path, MAX_PILOT_FILE_BYTES, "pilot library").toString("utf8");
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // Not the parser's message, which quotes the file's content.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: not valid JSON${at !== undefined ? ` (at byte ${at})` : ""}`, { cause: err });
  }
  const r = new Reader(path);
  const doc = r.obj(raw, "");
  checkSeal(doc, path);
  const storeId = doc.storeId === undefined ? undefined : r.str(doc.storeId, "storeId");
  const owned = storeId !== undefined ? { storeId } : {};
  if (doc.format !== PILOT_LIBRARY_FORMAT) r.fail("format", `expected "${PILOT_LIBRARY_FORMAT}", got ${JSON.stringify(doc.format)}`);
  if (doc.version !== PILOT_LIBRARY_VERSION) throw new RouterRetrieverError("UNSUPPORTED", `${path}: version ${JSON.stringify(doc.version)} (this build reads version ${PILOT_LIBRARY_VERSION})`);
  const libModel = r.str(doc.baseModelId, "baseModelId");
  if (!sameModelId(libModel, baseModelId)) {
    throw new RouterRetrieverError("MODEL_MISMATCH", `${path}: pilot library was built for base model "${libModel}", but the loaded base model is "${baseModelId}"`);
  }
  const dims = r.int(doc.dims, "dims");
  const experts = r.strs(doc.experts, "experts");
  const pilots: Pilot[] = r.arr(doc.pilots, "pilots").map((p, i) => {
    const o = r.obj(p, `pilots[${i}]`);
    const expert = r.str(o.expert, `pilots[${i}].expert`);
    if (!experts.includes(expert)) r.fail(`pilots[${i}].expert`, `"${expert}" is not in experts`);
    return { expert, domain: r.str(o.domain, `pilots[${i}].domain`), size: r.int(o.size, `pilots[${i}].size`), vector: r.vec(o.vector, dims, `pilots[${i}].vector`) };
  });
  const library: PilotLibrary = { baseModelId: libModel, dims, experts, domains: r.strs(doc.domains, "domains"), pilots };
  if (doc.labels === undefined) return { library, ...owned };

  const L = r.obj(doc.labels, "labels");
  const candidates = r.strs(L.candidates, "labels.candidates");
  const domains: DomainInfo[] = r.arr(L.domains, "labels.domains").map((d, i) => {
    const o = r.obj(d, `labels.domains[${i}]`);
    const name = r.str(o.name, `labels.domains[${i}].name`);
    return o.expert === undefined ? { name } : { name, expert: r.str(o.expert, `labels.domains[${i}].expert`) };
  });
  if (L.allZero !== "skip" && L.allZero !== "keep") r.fail("labels.allZero", `expected "skip" or "keep", got ${JSON.stringify(L.allZero)}`);
  const s = r.obj(L.sampling, "labels.sampling");
  const sampling = { maxQueriesPerDomain: r.int(s.maxQueriesPerDomain, "labels.sampling.maxQueriesPerDomain"), seed: r.num(s.seed, "labels.sampling.seed") };
  const items: PilotLabel[] = r.arr(L.items, "labels.items").map((it, i) => {
    const at = `labels.items[${i}]`;
    const o = r.obj(it, at);
    const scoresObj = r.obj(o.scores, `${at}.scores`);
    const scores: Record<string, number> = {};
    for (const c of candidates) scores[c] = r.num(scoresObj[c], `${at}.scores.${c}`);
    const best = o.best === null ? null : r.str(o.best, `${at}.best`);
    if (best !== null && !candidates.includes(best)) r.fail(`${at}.best`, `"${best}" is not a candidate`);
    return {
      domain: r.str(o.domain, `${at}.domain`),
      queryId: r.str(o.queryId, `${at}.queryId`),
      text: r.str(o.text, `${at}.text`),
      best,
      scores,
      vector: r.vec(o.vector, dims, `${at}.vector`),
    };
  });
  const labels: PilotLabels = { baseModelId: libModel, dims, candidates, domains, allZero: L.allZero as AllZeroRule, sampling, labels: items };
  // The labels are what the "knn" rule routes with.
  return { library: { ...library, instances: instancesFromLabels(labels) }, labels, ...owned };
}

function checkLen(v: Float32Array, dims: number, what: string): Float32Array {
  if (v.length !== dims) throw new RouterRetrieverError("SHAPE_MISMATCH", `${what}: ${v.length} floats, expected ${dims}`);
  return v;
}

export function encodeF32(v: Float32Array): string {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf.toString("base64");
}

/** Field-by-field validation that names the file and the JSON path at fault (shared with routing/evidence.ts). */
export class Reader {
  constructor(private readonly path: string) {}

  fail(field: string, what: string): never {
    throw new RouterRetrieverError("PARSE_ERROR", `${this.path}: ${field || "top level"}: ${what}`);
  }

  obj(v: unknown, field: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(field, "expected an object");
    return v as Record<string, unknown>;
  }

  arr(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, "expected an array");
    return v as unknown[];
  }

  str(v: unknown, field: string): string {
    if (typeof v !== "string") this.fail(field, "expected a string");
    return v as string;
  }

  strs(v: unknown, field: string): string[] {
    return this.arr(v, field).map((x, i) => this.str(x, `${field}[${i}]`));
  }

  num(v: unknown, field: string): number {
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(field, "expected a finite number");
    return v as number;
  }

  int(v: unknown, field: string): number {
    const n = this.num(v, field);
    if (!Number.isInteger(n) || n < 0) this.fail(field, "expected a non-negative integer");
    return n;
  }

  vec(v: unknown, dims: number, field: string): Float32Array {
    const s = this.str(v, field);
    const buf = Buffer.from(s, "base64");
    if (buf.length !== dims * 4) this.fail(field, `decodes to ${buf.length} bytes, expected ${dims * 4} (${dims} float32)`);
    const out = new Float32Array(dims);
    for (let i = 0; i < dims; i++) {
      out[i] = buf.readFloatLE(i * 4);
      // A NaN pilot makes every similarity NaN, and the router then silently sends every query to base.
      if (!Number.isFinite(out[i]!)) this.fail(field, `component ${i} is ${out[i]} (vectors must be finite)`);
    }
    return out;
  }
}
