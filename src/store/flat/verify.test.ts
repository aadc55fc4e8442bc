/**
 * Opening a folder store verifies its vectors against the manifest checksum before anything is
 * served (issue 12: zeroed or overwritten vectors used to be served until the next append), and
 * reports the verification's progress in bytes, so a large store shows a progress line instead
 * of a silent pause. The damage cases themselves are the fault matrix's (engine/fault-injection.test.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../open.js";
import type { StoreSpec } from "../types.js";

const DIMS = 2048;
const ROWS = 4_500; // 37 MB of vectors: more than two of the verifier's 16 MB steps
const SPEC: StoreSpec = { modelId: "m", dims: DIMS, pooling: "mean", normalized: false };
const root = mkdtempSync(join(tmpdir(), "rr-verify-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("verification at open", () => {
  it("reports its progress in bytes, step by step up to the whole vector file", async () => {
    const dir = join(root, "store");
    const s = await openStore(dir, SPEC);
    const chunk = 1_500;
    for (let i = 0; i < ROWS; i += chunk) {
      const docs = Array.from({ length: chunk }, (_, j) => ({ id: `d${i + j}`, title: "", text: `document ${i + j}` }));
      const v = new Float32Array(chunk * DIMS);
      for (let k = 0; k < v.length; k++) v[k] = Math.sin(i * DIMS + k);
      await s.append(docs, v);
    }
    await s.close();
    const calls: Array<[number, number]> = [];
    const again = await openStore(dir, SPEC, { onVerifyProgress: (done, total) => calls.push([done, total]) });
    try {
      expect(await again.count()).toBe(ROWS);
    } finally {
      await again.close();
    }
    const total = ROWS * DIMS * 4;
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const [, t] of calls) expect(t).toBe(total);
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThan(calls[i - 1]![0]);
    expect(calls.at(-1)![0]).toBe(total);
  }, 120_000);
});
