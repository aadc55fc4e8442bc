/**
 * Micro-batching for searches: concurrent requests are collected and sent to the engine
 * together, one base batch and one expert batch (each row with its own routed expert). On this
 * machine that barely changes throughput, since one query on one thread already keeps a core
 * busy (docs/service.md, bench/service.ts); it buys one encoder call per pass, one corpus scan
 * per batch, bounded waiting and fairness under load.
 *
 * A batch leaves when `maxBatch` queries are queued, or `maxWaitMs` after the first one
 * arrived, whichever comes first. At most `concurrency` batches run at a time (default 1; the
 * service sets it to the engine's parallel encoder sessions, so each core has a batch):
 * requests arriving while all are busy queue up and leave together as soon as one finishes
 * (without a further wait, since they have already waited). The queue is bounded; past
 * `maxQueue` a request is refused at once (OVERLOADED, 503) rather than left to time out.
 */
import { HttpError } from "./errors.js";

export interface BatcherOptions {
  readonly maxWaitMs?: number;
  readonly maxBatch?: number;
  readonly maxQueue?: number;
  /** Batches run at once (default 1). */
  readonly concurrency?: number;
}

export interface BatcherStats {
  readonly batches: number;
  readonly queries: number;
  readonly largestBatch: number;
  readonly queued: number;
}

/** Runs one batch: results in input order, each list at least `k` long when the corpus allows. */
export type BatchRunner<R> = (queries: readonly string[], k: number) => Promise<R[]>;

interface Item<R> {
  readonly query: string;
  readonly k: number;
  resolve(r: R): void;
  reject(e: unknown): void;
}

export class MicroBatcher<R> {
  private queue: Item<R>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();
  private stats = { batches: 0, queries: 0, largestBatch: 0 };
  readonly maxWaitMs: number;
  readonly maxBatch: number;
  readonly maxQueue: number;
  readonly concurrency: number;

  constructor(
    private readonly run: BatchRunner<R>,
    /** Cuts one result down to its own request's k (the batch ran with the largest k). */
    private readonly trim: (result: R, k: number) => R,
    opts: BatcherOptions = {},
  ) {
    this.maxWaitMs = opts.maxWaitMs ?? 5;
    this.maxBatch = opts.maxBatch ?? 32;
    this.maxQueue = opts.maxQueue ?? 1024;
    this.concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${this.concurrency}`);
  }

  submit(query: string, k: number): Promise<R> {
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new HttpError("OVERLOADED", `search queue is full (${this.maxQueue} waiting); retry shortly`));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ query, k, resolve, reject });
      this.schedule();
    });
  }

  getStats(): BatcherStats {
    return { ...this.stats, queued: this.queue.length };
  }

  /** Resolves once everything queued so far has been answered. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.running.size > 0) {
      if (this.timer || this.running.size === 0) this.flushNow();
      await Promise.all(this.running);
    }
  }

  private schedule(): void {
    if (this.running.size >= this.concurrency) return; // a running batch's completion flushes the queue
    if (this.queue.length >= this.maxBatch) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), this.maxWaitMs);
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running.size < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const run: Promise<void> = this.execute(batch).finally(() => {
        this.running.delete(run);
        if (this.queue.length > 0) this.flushNow();
      });
      this.running.add(run);
    }
  }

  private async execute(batch: Item<R>[]): Promise<void> {
    this.stats.batches++;
    this.stats.queries += batch.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    const k = Math.max(...batch.map((b) => b.k));
    try {
      const results = await this.run(batch.map((b) => b.query), k);
      batch.forEach((b, i) => b.resolve(this.trim(results[i]!, b.k)));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      // One bad query must not fail its neighbours: retry each alone so only it gets the error.
      for (const b of batch) {
        try {
          b.resolve(this.trim((await this.run([b.query], b.k))[0]!, b.k));
        } catch (e) {
          b.reject(e);
        }
      }
    }
  }
}
