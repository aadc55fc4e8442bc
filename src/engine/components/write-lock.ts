/**
 * One writer at a time inside a process: adds and removals of documents and experts run in
 * order, so each sees the state the previous one committed. Searches never take it.
 */
export class WriteLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    // The chain must survive a failed writer; its error goes to its own caller only.
    this.tail = next.catch(() => undefined);
    return next;
  }
}
