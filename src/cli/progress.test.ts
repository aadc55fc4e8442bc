import { afterEach, describe, expect, it, vi } from "vitest";
import { startProgress } from "./progress.js";

describe("startProgress into a log file", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it("writes a line every few seconds even from a synchronous loop that never yields to its timer", () => {
    if (process.stderr.isTTY) return; // the terminal bar redraws in place; this pins the log-file case
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    vi.useFakeTimers({ toFake: ["Date"] });
    const p = startProgress("grid", 10);
    for (let i = 1; i <= 10; i++) {
      vi.setSystemTime(Date.now() + 1000);
      p.update(i);
    }
    const during = written.join("").split(/[\r\n]/).filter((l) => /grid .* [1-9]\/10 items/.test(l));
    p.stop();
    // One line per three seconds of the ten: at items 3, 6 and 9.
    expect(during.map((l) => /(\d+)\/10 items/.exec(l)![1])).toEqual(["3", "6", "9"]);
  });
});
