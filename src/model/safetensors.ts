/**
 * The safetensors format: 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw bytes. Reading up-casts F16 and BF16 to
 * F32 (all compute here is F32); writing emits F32, which is what PEFT adapters use.
 */
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from "node:fs";
import { RouterRetrieverError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic.js";

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ReadSafetensorsOptions {
  /** Refuse files larger than this (default 4 GiB: no BERT-family checkpoint here comes close). */
  readonly maxBytes?: number;
  /** Refuse NaN and infinite values in the float tensors (adapters: one NaN makes every score NaN). */
  readonly requireFinite?: boolean;
}

/** The reference reader's bound on the JSON header (safetensors' MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;
const DEFAULT_MAX_BYTES = 4 * 1024 ** 3;

/** Bytes per element of every dtype the reference format defines (safetensors/src/tensor.rs Dtype). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/**
 * Reads a safetensors file as untrusted input, with the reference reader's rules
 * (safetensors/src/tensor.rs, Metadata::validate): a bounded JSON header that is an object,
 * every entry with a known dtype, a shape of non-negative integers and two integer
 * data_offsets; the entries, sorted by start, tile the data section exactly (contiguous from
 * 0, no overlap, no gap, ending at the end of the file); each entry's byte length equals
 * dtype size x product of its shape. Only regular files are read (a FIFO or a directory would
 * block or throw mid-read). Every refusal is a PARSE_ERROR naming the file and the tensor.
 */
export function readSafetensors(path: string, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  const buf = readRegularFile(path, options.maxBytes ?? DEFAULT_MAX_BYTES, "safetensors file");
  const fail = (what: string): never => {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: ${what}`);
  };
  if (buf.byteLength < 8) fail("too short to be a safetensors file");
  const headerLen64 = buf.readBigUInt64LE(0);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(headerLen64);
  if (headerLen < 2 || 8 + headerLen > buf.byteLength) fail(`header length ${headerLen} does not fit a ${buf.byteLength}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8"));
  } catch {
    // The parser's own message quotes the header; untrusted bytes are not echoed back.
    fail("header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header is not a JSON object");
  const base = 8 + headerLen;
  const dataBytes = buf.byteLength - base;
  const entries: Array<{ name: string; dtype: string; shape: number[]; start: number; end: number }> = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    const bad = (what: string): never => fail(`tensor ${JSON.stringify(name)}: ${what}`);
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      bad(name === "__metadata__" ? "__metadata__ is not an object" : "header entry is not an object");
    }
    const e = entry as Record<string, unknown>;
    if (name === "__metadata__") {
      for (const [k, v] of Object.entries(e)) if (typeof v !== "string") fail(`__metadata__.${k} is not a string`);
      metadata = e as Record<string, string>;
      continue;
    }
    const dtype = e.dtype;
    if (typeof dtype !== "string") bad("dtype missing");
    const size = DTYPE_BYTES[dtype as string];
    if (size === undefined) bad(`unknown dtype ${JSON.stringify(dtype).slice(0, 40)}`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((x) => Number.isSafeInteger(x) && x >= 0)) bad("shape missing or not a list of non-negative integers");
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((x) => Number.isSafeInteger(x) && x >= 0)) bad("data_offsets missing or not two non-negative integers");
    const [start, end] = offs as [number, number];
    if (end < start) bad(`data_offsets [${start}, ${end}) end before they start`);
    if (end > dataBytes) bad(`data_offsets [${start}, ${end}) run past the end of the ${dataBytes}-byte data section`);
    let elements = 1;
    for (const d of shape as number[]) {
      elements *= d;
      if (!Number.isSafeInteger(elements)) bad(`shape [${shape}] has too many elements`);
    }
    if (elements * size! !== end - start) bad(`shape [${shape}] of ${dtype} needs ${elements * size!} bytes, data_offsets give ${end - start}`);
    entries.push({ name, dtype: dtype as string, shape: shape as number[], start, end });
  }
  // Sorted by start, each entry must begin where the previous ended: no overlap, no gap.
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.start !== pos) fail(`tensor ${JSON.stringify(e.name)}: data_offsets [${e.start}, ${e.end}) ${e.start < pos ? "overlap the previous tensor" : `leave a gap after byte ${pos}`}`);
    pos = e.end;
  }
  if (pos !== dataBytes) fail(`tensors cover ${pos} bytes but the data section has ${dataBytes}`);

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const where = `${path}: tensor ${JSON.stringify(e.name)}`;
    const data = decode(buf.subarray(base + e.start, base + e.end), e.dtype, where);
    if (data === undefined) continue; // integer buffers such as position_ids are not weights
    if (options.requireFinite) {
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]!)) throw new RouterRetrieverError("PARSE_ERROR", `${where}: value ${i} is ${data[i]} (weights must be finite)`);
      }
    }
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { tensors, metadata };
}

/**
 * Reads a whole file that must be a regular file of at most `maxBytes`. Opened non-blocking
 * and checked with fstat on the open descriptor, so a FIFO cannot stall the reader and a file
 * swapped after a path check is still the file checked.
 */
export function readRegularFile(path: string, maxBytes: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | (fsc.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RouterRetrieverError(code === "ENOENT" ? "NOT_FOUND" : "PARSE_ERROR", `${path}: cannot open the ${what} (${code ?? "error"})`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new RouterRetrieverError("PARSE_ERROR", `${path}: the ${what} is not a regular file`);
    if (st.size > maxBytes) throw new RouterRetrieverError("LIMIT_EXCEEDED", `${path}: the ${what} is ${st.size} bytes, over the ${maxBytes}-byte limit`);
    const buf = Buffer.alloc(st.size);
    for (let off = 0; off < st.size; ) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) throw new RouterRetrieverError("PARSE_ERROR", `${path}: the ${what} shrank while being read`);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

function decode(bytes: Buffer, dtype: string, where: string): Float32Array | undefined {
  const n = bytes.byteLength;
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(n / 4);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case "F16": {
      const out = new Float32Array(n / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(bytes.readUInt16LE(2 * i));
      return out;
    }
    case "BF16": {
      const out = new Float32Array(n / 2);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) u32[i] = bytes.readUInt16LE(2 * i) << 16;
      return out;
    }
    case "I64":
    case "I32":
    case "I16":
    case "I8":
    case "U64":
    case "U32":
    case "U16":
    case "U8":
    case "BOOL":
      return undefined;
    default:
      throw new RouterRetrieverError("UNSUPPORTED", `${where}: dtype ${dtype} is not supported (F32, F16, BF16 are)`);
  }
}

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * 2 ** -14 * (frac / 1024);
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return t;
})();

function halfToFloat(h: number): number {
  return F16_TABLE[h]!;
}

export function encodeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // The data section should start 8-byte aligned; pad the header with spaces as the reference writer does.
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const headerBytes = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const name of names) {
    const t = tensors.get(name)!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
