/**
 * Replacing documents in a folder store rewrites the corpus in <store>/.rewrite/ and commits it
 * with a READY file (corpus.ts). A crash at any step must leave a store that opens as either
 * the old corpus or the new one, complete, never a mix and never a refusal. The crash states
 * are made here from a real replacement: the store before it, the store after it, and the
 * rewrite folder at each step of the move.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../open.js";
import type { StoreSpec } from "../types.js";

const DIMS = 8;
const SPEC: StoreSpec = { modelId: "m", dims: DIMS, pooling: "mean", normalized: true };
const root = mkdtempSync(join(tmpdir(), "rr-rewrite-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DOCS = ["a", "b", "c", "d"].map((id) => ({ id, title: id.toUpperCase(), text: `text of ${id}` }));
const EDITED = { id: "c", title: "C", text: "text of c, edited" };
const row = (i: number): Float32Array => Float32Array.from({ length: DIMS }, (_, t) => (t === i % DIMS ? 1 : 0));
const OLD_C = row(2);
const NEW_C = row(7);

let before: string; // the store as acknowledged before the replacement
let after: string; // the same store after it

beforeAll(async () => {
  before = join(root, "before");
  const s = await openStore(before, SPEC);
  await s.append(DOCS.slice(0, 2), Float32Array.from([...row(0), ...row(1)]));
  await s.append(DOCS.slice(2), Float32Array.from([...OLD_C, ...row(3)]));
  await s.close();
  after = join(root, "after");
  cpSync(before, after, { recursive: true });
  const t = await openStore(after, SPEC);
  await t.replace([EDITED], NEW_C);
  await t.close();
  expect(existsSync(join(after, ".rewrite"))).toBe(false);
});

/** What a store holds, for comparison: every document and its vector, in row order. */
async function contents(dir: string): Promise<unknown> {
  const s = await openStore(dir, SPEC);
  try {
    const ids = DOCS.map((d) => d.id);
    return { docs: await Promise.all(ids.map((id) => s.get(id))), vectors: [...(await s.vectorsOf(ids))], count: await s.count() };
  } finally {
    await s.close();
  }
}

let n = 0;
/** The old store with the new corpus staged in .rewrite/, then `step` applied (a crash right after it). */
function crashState(step: (dir: string, work: string) => void, ready: boolean): string {
  const dir = join(root, `crash-${++n}`);
  cpSync(before, dir, { recursive: true });
  const work = join(dir, ".rewrite");
  mkdirSync(work);
  cpSync(join(after, "index"), join(work, "index"), { recursive: true });
  cpSync(join(after, "docs.jsonl"), join(work, "docs.jsonl"));
  if (ready) writeFileSync(join(work, "READY"), "");
  step(dir, work);
  return dir;
}

describe("a document replacement interrupted by a crash", () => {
  it("the replacement itself: the edited document and its new vector, every other row kept, in order", async () => {
    const c = (await contents(after)) as { docs: unknown[]; vectors: number[] };
    expect(c.docs).toEqual([DOCS[0], DOCS[1], EDITED, DOCS[3]]);
    expect(c.vectors.slice(2 * DIMS, 3 * DIMS)).toEqual([...NEW_C]);
    expect(c.vectors.slice(0, 2 * DIMS)).toEqual([...row(0), ...row(1)]);
  });

  it("before its commit (no READY, staged files partial or complete): the old corpus, staging removed", async () => {
    const want = await contents(before);
    for (const step of [(_d: string, w: string) => rmSync(join(w, "docs.jsonl")), () => {}]) {
      const dir = crashState(step, false);
      expect(await contents(dir)).toEqual(want);
      expect(existsSync(join(dir, ".rewrite"))).toBe(false);
    }
  });

  it("after its commit, at every step of the move: the new corpus", async () => {
    const want = await contents(after);
    const steps: Array<[string, (dir: string, work: string) => void]> = [
      ["nothing moved yet", () => {}],
      ["old index/ removed", (dir) => rmSync(join(dir, "index"), { recursive: true })],
      ["index/ moved", (dir, work) => {
        rmSync(join(dir, "index"), { recursive: true });
        renameSync(join(work, "index"), join(dir, "index"));
      }],
      ["index/ and docs.jsonl moved", (dir, work) => {
        rmSync(join(dir, "index"), { recursive: true });
        renameSync(join(work, "index"), join(dir, "index"));
        renameSync(join(work, "docs.jsonl"), join(dir, "docs.jsonl"));
      }],
    ];
    for (const [what, step] of steps) {
      const dir = crashState(step, true);
      expect(await contents(dir), what).toEqual(want);
      expect(existsSync(join(dir, ".rewrite")), what).toBe(false);
    }
  });
});
