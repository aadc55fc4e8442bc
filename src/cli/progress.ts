/**
 * Progress on stderr (stdout stays clean for --json): a bar with items/s and ETA on a
 * terminal, and a line every few seconds when stderr is a log file (CI).
 */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  /** Grows the total when it was not known up front. */
  setTotal(total: number): void;
  stop(): void;
}

export interface ProgressOptions {
  readonly unit?: string;
  /** Silence everything (--quiet). */
  readonly quiet?: boolean;
}

const NOT_TTY_EVERY_MS = 3000;

export function startProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  if (opts.quiet) return { update() {}, setTotal() {}, stop() {} };
  const unit = opts.unit ?? "items";
  const started = Date.now();
  let last = 0;
  let lastLine = Date.now();
  const rate = (done: number): string => {
    const s = (Date.now() - started) / 1000;
    return s > 0 ? (done / s).toFixed(1) : "0";
  };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}{extra}`,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: NOT_TTY_EVERY_MS,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: "0", extra: "" });
  return {
    update(done, extra) {
      last = done;
      const extraText = extra ? " | " + Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(" | ") : "";
      bar.update(done, { rate: rate(done), extra: extraText });
      // Into a log file cli-progress writes a line only from its timer, which a synchronous loop
      // (the experiment's router grid) never yields to: write it from here at the same pace.
      if (!process.stderr.isTTY && Date.now() - lastLine >= NOT_TTY_EVERY_MS) {
        lastLine = Date.now();
        bar.render();
      }
    },
    setTotal(t) {
      bar.setTotal(t);
    },
    stop() {
      bar.update(last, { rate: rate(last) });
      bar.stop();
    },
  };
}
