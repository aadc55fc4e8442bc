import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RouterRetrieverError } from "../errors.js";
import { encodeSafetensors, readSafetensors, writeSafetensors, type Tensor } from "./safetensors.js";

const dir = mkdtempSync(join(tmpdir(), "rr-st-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rawFile(dtype: string, shape: number[], bytes: number[]): Buffer {
  const header = Buffer.from(JSON.stringify({ t: { dtype, shape, data_offsets: [0, bytes.length] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, Buffer.from(bytes)]);
}

describe("safetensors", () => {
  it("round-trips F32 tensors and metadata", () => {
    const tensors = new Map<string, Tensor>([["a.weight", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) }]]);
    const p = join(dir, "x.safetensors");
    writeSafetensors(p, tensors, { format: "pt" });
    const back = readSafetensors(p);
    expect(back.metadata).toEqual({ format: "pt" });
    expect(back.tensors.get("a.weight")!.shape).toEqual([2, 3]);
    expect([...back.tensors.get("a.weight")!.data]).toEqual([1, 2, 3, 4, 5, -6.5]);
    expect((encodeSafetensors(tensors).byteLength - 8) % 8).toBe(0);
  });

  it("up-casts F16 and BF16 (IEEE bit patterns worked by hand)", () => {
    // F16 0x3c00 = 1.0, 0xc000 = -2.0, 0x3555 = 0.333251953125; BF16 0x3f80 = 1.0, 0x4049 = 3.140625.
    const p16 = join(dir, "h.safetensors");
    writeFileSync(p16, rawFile("F16", [3], [0x00, 0x3c, 0x00, 0xc0, 0x55, 0x35]));
    expect([...readSafetensors(p16).tensors.get("t")!.data]).toEqual([1, -2, 0.333251953125]);
    const pb = join(dir, "b.safetensors");
    writeFileSync(pb, rawFile("BF16", [2], [0x80, 0x3f, 0x49, 0x40]));
    expect([...readSafetensors(pb).tensors.get("t")!.data]).toEqual([1, 3.140625]);
  });

  it("names the file and tensor when bytes are missing", () => {
    const p = join(dir, "bad.safetensors");
    writeFileSync(p, rawFile("F32", [4], [0, 0, 0, 0]).subarray(0, -2));
    expect(() => readSafetensors(p)).toThrow(/bad\.safetensors: tensor "t"/);
  });

  /** A file from a raw header value and data bytes. */
  function fileWith(header: unknown, data: number[] | Buffer = []): string {
    const h = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    const p = join(dir, `case-${Math.random().toString(36).slice(2)}.safetensors`);
    writeFileSync(p, Buffer.concat([len, h, Buffer.from(data)]));
    return p;
  }
  const refusal = (p: string): string => {
    try {
      readSafetensors(p, { requireFinite: true });
    } catch (err) {
      expect(err).toBeInstanceOf(RouterRetrieverError);
      return `${(err as RouterRetrieverError).code}: ${(err as Error).message}`;
    }
    throw new Error(`${p} was accepted`);
  };
  const f32 = (...v: number[]): Buffer => Buffer.from(Float32Array.from(v).buffer);

  // Every case the issue found to give 500 or be accepted, each refused with the file and the tensor named.
  it.each([
    ["a null header", "null", [], /header is not a JSON object/],
    ["an array header", "[]", [], /header is not a JSON object/],
    ["an entry without shape", { t: { dtype: "F32", data_offsets: [0, 4] } }, f32(1), /tensor "t": shape missing/],
    ["an entry without data_offsets", { t: { dtype: "F32", shape: [1] } }, f32(1), /tensor "t": data_offsets missing/],
    ["an entry without dtype", { t: { shape: [1], data_offsets: [0, 4] } }, f32(1), /tensor "t": dtype missing/],
    ["an unknown dtype", { t: { dtype: "F33", shape: [1], data_offsets: [0, 4] } }, f32(1), /tensor "t": unknown dtype/],
    ["a byte length that is not dtype x shape", { t: { dtype: "F32", shape: [1], data_offsets: [0, 3] } }, [0, 0, 0], /tensor "t": shape \[1\] of F32 needs 4 bytes, data_offsets give 3/],
    ["negative data_offsets", { t: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } }, f32(1), /tensor "t": data_offsets missing or not two non-negative/],
    ["fractional data_offsets", { t: { dtype: "F32", shape: [1], data_offsets: [0, 4.5] } }, f32(1), /tensor "t": data_offsets/],
    ["reversed data_offsets", { t: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, f32(1), /tensor "t": data_offsets \[4, 0\) end before/],
    ["overlapping tensors", { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, f32(1, 2, 3), /tensor "b": data_offsets \[4, 12\) overlap/],
    ["a gap between tensors", { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [8, 12] } }, f32(1, 2, 3), /tensor "b": .*leave a gap/],
    ["trailing bytes", { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(1, 2), /cover 4 bytes but the data section has 8/],
    ["a NaN weight", { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, f32(1, NaN), /tensor "a": value 1 is NaN/],
    ["an infinite F16 weight", { a: { dtype: "F16", shape: [1], data_offsets: [0, 2] } }, [0x00, 0x7c], /tensor "a": value 0 is Infinity/],
    ["a non-string metadata value", { __metadata__: { format: 1 } }, [], /__metadata__.format is not a string/],
    ["a header that is not JSON", "{not json", [], /header is not valid JSON/],
  ])("refuses %s (PARSE_ERROR naming the tensor)", (_what, header, data, message) => {
    const msg = refusal(fileWith(header, data as number[] | Buffer));
    expect(msg).toMatch(/^PARSE_ERROR: .*case-\w+\.safetensors: /);
    expect(msg).toMatch(message);
  });

  it("refuses a header length beyond the reference reader's 100 MB bound without allocating it", () => {
    const p = join(dir, "huge.safetensors");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(2n ** 62n);
    writeFileSync(p, Buffer.concat([len, Buffer.from("{}")]));
    expect(refusal(p)).toMatch(/header length \d+ exceeds the 100000000-byte limit/);
  });

  it("refuses a directory, a FIFO and an oversized file as not-a-weights-file, without blocking", () => {
    const d = join(dir, "adir.safetensors");
    mkdirSync(d);
    expect(refusal(d)).toMatch(/adir\.safetensors: the safetensors file is not a regular file/);
    const fifo = join(dir, "pipe.safetensors");
    execFileSync("mkfifo", [fifo]);
    expect(refusal(fifo)).toMatch(/pipe\.safetensors: the safetensors file is not a regular file/);
    const p = fileWith({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32(1, 2, 3, 4));
    expect(() => readSafetensors(p, { maxBytes: 10 })).toThrow(/over the 10-byte limit/);
  });
});
