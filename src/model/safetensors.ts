/**
 * The safetensors format: 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw bytes. Reading up-casts F16 and BF16 to
 * F32 (all compute here is F32); writing emits F32, which is what PEFT adapters use.
 */
import { readFileSync } from "node:fs";
import { RouterRetrieverError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic.js";

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, Tensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

export function readSafetensors(path: string): SafetensorsFile {
  const buf = readFileSync(path);
  if (buf.byteLength < 8) throw new RouterRetrieverError("PARSE_ERROR", `${path}: too short to be a safetensors file`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || 8 + headerLen > buf.byteLength) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: header length ${headerLen} does not fit a ${buf.byteLength}-byte file`);
  }
  let header: Record<string, HeaderEntry | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8"));
  } catch (err) {
    throw new RouterRetrieverError("PARSE_ERROR", `${path}: header is not valid JSON`, { cause: err });
  }
  const base = 8 + headerLen;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as HeaderEntry;
    const [start, end] = e.data_offsets;
    if (base + end > buf.byteLength || start > end) {
      throw new RouterRetrieverError("PARSE_ERROR", `${path}: tensor ${name} bytes [${start}, ${end}) run past the end of the file`);
    }
    const bytes = buf.subarray(base + start, base + end);
    const data = decode(bytes, e.dtype, `${path}: tensor ${name}`);
    if (data === undefined) continue; // integer buffers such as position_ids are not weights
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new RouterRetrieverError("PARSE_ERROR", `${path}: tensor ${name} has shape [${e.shape}] but ${data.length} values`);
    }
    tensors.set(name, { shape: e.shape, data });
  }
  return { tensors, metadata };
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
