/**
 * The trainer on the tiny random BERT (test/support): checkpoint resume is exact, early stopping
 * keeps the best epoch, Multi-Task balancing down-samples every domain to the smallest.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensors } from "../model/safetensors.js";
import { loadExpert } from "../experts/peft.js";
import type { LoraExpert } from "../experts/types.js";
import { tinyModel, writeTinyDataset } from "../../test/support/tiny-training.js";
import { trainExpert, type TrainEvent, type TrainExpertOptions } from "./trainer.js";

const root = mkdtempSync(join(tmpdir(), "rr-trainer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const model = tinyModel();
const data = writeTinyDataset(join(root, "data-a"), { docs: 40, trainQueries: 48, devQueries: 12, seed: 1 });
const small = writeTinyDataset(join(root, "data-b"), { docs: 20, trainQueries: 16, devQueries: 6, seed: 2 });

let runs = 0;
function options(o: Partial<TrainExpertOptions> = {}): TrainExpertOptions {
  return { datasetDirs: [data], expertId: "tiny", outDir: join(root, `out-${runs++}`), cacheDir: join(root, "cache"), batchSize: 8, epochs: 3, patience: 5, lr: 1e-2, seed: 3, threads: 1, ...o };
}

function weightsEqual(a: LoraExpert, b: LoraExpert): void {
  expect([...a.weights.keys()]).toEqual([...b.weights.keys()]);
  for (const [m, w] of a.weights) {
    expect(Buffer.from(w.A.buffer, w.A.byteOffset, w.A.byteLength).equals(Buffer.from(b.weights.get(m)!.A.buffer, b.weights.get(m)!.A.byteOffset, b.weights.get(m)!.A.byteLength)), `${m}.A`).toBe(true);
    expect(Buffer.from(w.B.buffer, w.B.byteOffset, w.B.byteLength).equals(Buffer.from(b.weights.get(m)!.B.buffer, b.weights.get(m)!.B.byteOffset, b.weights.get(m)!.B.byteLength)), `${m}.B`).toBe(true);
  }
}

const scores = (h: ReadonlyArray<{ epoch: number; meanLoss: number; devNdcg10: number }>) => h.map(({ epoch, meanLoss, devNdcg10 }) => ({ epoch, meanLoss, devNdcg10 }));

describe("trainExpert on a tiny BERT", () => {
  it("resumed after an interruption at epoch 1, ends bit for bit where an uninterrupted run ends", async () => {
    const straight = await trainExpert(model, options());
    expect(straight.history).toHaveLength(3);

    const outDir = join(root, "interrupted");
    const stop = (e: TrainEvent): void => {
      if (e.kind === "epoch" && e.epoch === 1) throw new Error("interrupted after epoch 1");
    };
    await expect(trainExpert(model, options({ outDir, onEvent: stop }))).rejects.toThrow("interrupted after epoch 1");
    const events: TrainEvent[] = [];
    const resumed = await trainExpert(model, options({ outDir, onEvent: (e) => events.push(e) }));
    expect(events.find((e) => e.kind === "start")).toMatchObject({ resumedEpoch: 1 });
    expect(events.filter((e) => e.kind === "epoch").map((e) => (e as { epoch: number }).epoch)).toEqual([2, 3]);

    expect(scores(resumed.history)).toEqual(scores(straight.history));
    expect(resumed.bestEpoch).toBe(straight.bestEpoch);
    weightsEqual(resumed.expert, straight.expert);
    weightsEqual(loadExpert(outDir, model), resumed.expert);
  });

  it("early stopping: stops after `patience` epochs without a better dev score and keeps the best epoch's weights", async () => {
    const outDir = join(root, "early");
    // A step size this large overshoots: with this seed dev nDCG@10 beats the base, peaks, then
    // falls (patience counts epochs since the best, the base included).
    const r = await trainExpert(model, options({ outDir, lr: 0.03, seed: 4, epochs: 10, patience: 3, lora: { targetModules: ["query", "value"] } }));
    const dev = r.history.map((h) => h.devNdcg10);
    const best = Math.max(r.baseDevNdcg10, ...dev);
    expect(r.bestEpoch).toBeGreaterThan(0);
    expect(dev[r.bestEpoch - 1]).toBe(best);
    expect(dev.indexOf(best) + 1).toBe(r.bestEpoch);
    expect(r.bestDevNdcg10).toBe(best);
    // Stopped exactly `patience` epochs after the best, before the epoch budget ran out.
    expect(r.history).toHaveLength(r.bestEpoch + 3);
    expect(r.history.length).toBeLessThan(10);
    // The saved expert is the best epoch's checkpoint, not the last one's.
    const ckpt = `${outDir}.checkpoint`;
    const bestFile = readSafetensors(join(ckpt, `epoch-${r.bestEpoch}.lora.safetensors`)).tensors;
    const lastFile = readSafetensors(join(ckpt, `epoch-${r.history.length}.lora.safetensors`)).tensors;
    const saved = loadExpert(outDir, model);
    let differsFromLast = false;
    for (const [m, w] of saved.weights) {
      expect(w.A).toEqual(bestFile.get(`${m}.A`)!.data);
      expect(w.B).toEqual(bestFile.get(`${m}.B`)!.data);
      if (!lastFile.get(`${m}.B`)!.data.every((x, i) => x === w.B[i])) differsFromLast = true;
    }
    expect(differsFromLast).toBe(true);
  });

  it("early stopping with no epoch better than the base keeps the base (B = 0)", async () => {
    const r = await trainExpert(model, options({ lr: 0, epochs: 6, patience: 2 }));
    expect(r.bestEpoch).toBe(0);
    expect(r.history).toHaveLength(2);
    expect(r.bestDevNdcg10).toBe(r.baseDevNdcg10);
    for (const w of r.expert.weights.values()) expect(w.B.every((x) => x === 0)).toBe(true);
  });

  it("Multi-Task balancing down-samples every domain to the smallest domain's pairs", async () => {
    const messages: string[] = [];
    const onEvent = (e: TrainEvent): void => {
      if (e.kind === "setup") messages.push(e.message);
    };
    const balanced = await trainExpert(model, options({ datasetDirs: [data, small], balance: true, epochs: 1, onEvent }));
    expect(messages).toContain("balanced: 16 pairs from each of 2 domains");
    expect(balanced.expert.meta.training).toMatchObject({ pairs: 32, balanced: true });
    const unbalanced = await trainExpert(model, options({ datasetDirs: [data, small], epochs: 1 }));
    expect(unbalanced.expert.meta.training).toMatchObject({ pairs: 48 + 16, balanced: false });
  });
});
