/**
 * MicroBatcher's concurrency: at most `concurrency` batches run at once, a queue that builds
 * up while they run leaves as soon as one finishes, and every request gets its own answer.
 * The runner here is a plain function the test releases by hand, so the order is exact.
 */
import { describe, expect, it } from "vitest";
import { MicroBatcher } from "./batcher.js";

interface Gate {
  readonly queries: readonly string[];
  open(): void;
}

/** A runner whose batches wait until the test opens them; records every batch it was given. */
function gatedRunner(): { run: (q: readonly string[]) => Promise<string[]>; gates: Gate[]; maxRunning: () => number } {
  const gates: Gate[] = [];
  let running = 0;
  let most = 0;
  const run = (queries: readonly string[]): Promise<string[]> =>
    new Promise((resolve) => {
      running++;
      most = Math.max(most, running);
      let opened = false;
      gates.push({
        queries,
        open: () => {
          if (opened) return;
          opened = true;
          running--;
          resolve(queries.map((q) => `answer:${q}`));
        },
      });
    });
  return { run, gates, maxRunning: () => most };
}

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("MicroBatcher concurrency", () => {
  it("runs one batch at a time by default", async () => {
    const r = gatedRunner();
    const b = new MicroBatcher<string>(r.run, (x) => x, { maxWaitMs: 1 });
    const first = b.submit("a", 1);
    await tick(10);
    const second = [b.submit("b", 1), b.submit("c", 1)];
    await tick(10);
    expect(r.gates.map((g) => g.queries)).toEqual([["a"]]);
    r.gates[0]!.open();
    expect(await first).toBe("answer:a");
    await tick(10);
    // What queued meanwhile left together, without a further wait.
    expect(r.gates.map((g) => g.queries)).toEqual([["a"], ["b", "c"]]);
    r.gates[1]!.open();
    expect(await Promise.all(second)).toEqual(["answer:b", "answer:c"]);
    expect(r.maxRunning()).toBe(1);
  });

  it("runs up to `concurrency` batches side by side; the rest queue for the first to finish", async () => {
    const r = gatedRunner();
    const b = new MicroBatcher<string>(r.run, (x) => x, { maxWaitMs: 1, concurrency: 2 });
    expect(b.concurrency).toBe(2);
    const p1 = b.submit("a", 1);
    await tick(10);
    const p2 = b.submit("b", 1);
    await tick(10);
    const queued = [b.submit("c", 1), b.submit("d", 1)];
    await tick(10);
    expect(r.gates.map((g) => g.queries)).toEqual([["a"], ["b"]]);
    expect(b.getStats().queued).toBe(2);
    r.gates[1]!.open();
    expect(await p2).toBe("answer:b");
    await tick(10);
    expect(r.gates.map((g) => g.queries)).toEqual([["a"], ["b"], ["c", "d"]]);
    r.gates[0]!.open();
    r.gates[2]!.open();
    expect(await p1).toBe("answer:a");
    expect(await Promise.all(queued)).toEqual(["answer:c", "answer:d"]);
    expect(r.maxRunning()).toBe(2);
    expect(b.getStats()).toMatchObject({ batches: 3, queries: 4, queued: 0 });
  });

  it("drains everything queued and running", async () => {
    const r = gatedRunner();
    const b = new MicroBatcher<string>(r.run, (x) => x, { maxWaitMs: 50, maxBatch: 2, concurrency: 2 });
    const all = ["a", "b", "c", "d", "e"].map((q) => b.submit(q, 1));
    let drained = false;
    const drain = b.drain().then(() => (drained = true));
    // Opens every batch as it appears until the drain is done.
    while (!drained) {
      for (const g of r.gates) g.open();
      await tick(1);
    }
    await drain;
    expect(await Promise.all(all)).toEqual(["a", "b", "c", "d", "e"].map((q) => `answer:${q}`));
    expect(r.maxRunning()).toBeLessThanOrEqual(2);
  });

  it("refuses a concurrency that is not a positive integer", () => {
    expect(() => new MicroBatcher<string>(async (q) => [...q], (x) => x, { concurrency: 0 })).toThrow(/concurrency must be a positive integer/);
  });
});
