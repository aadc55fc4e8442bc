import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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
    expect(() => readSafetensors(p)).toThrow(/bad\.safetensors: tensor t/);
  });
});
