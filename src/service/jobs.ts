/**
 * Long work started over HTTP (adding a domain: minutes of encoding and training) runs as a
 * job: POST answers 202 with the job at once, GET /api/jobs/<id> shows its stage, items done,
 * items/s and ETA, the stage's messages, and finally the result or the error. One job at a
 * time: the machine's cores are the search path's too. Jobs live in memory (a restarted
 * service forgets them; the work itself resumes, see workflows/add-domain.ts).
 */
import { randomBytes } from "node:crypto";
import { toHttpError } from "./errors.js";
import { HttpError } from "./errors.js";

export interface JobProgress {
  readonly stage: string;
  readonly done: number;
  readonly total: number;
  readonly unit: string;
  readonly message?: string;
}

export interface JobView {
  readonly id: string;
  readonly kind: string;
  readonly name: string;
  readonly state: "running" | "done" | "failed";
  readonly stage: string;
  readonly done: number;
  readonly total: number;
  readonly unit: string;
  /** Items per second in the current stage (0 until measurable). */
  readonly rate: number;
  /** Seconds left in the current stage, when the rate allows a guess. */
  readonly etaSeconds?: number;
  readonly elapsedSeconds: number;
  /** The stages' messages so far (last 50). */
  readonly log: readonly string[];
  readonly result?: unknown;
  readonly error?: { readonly code: string; readonly message: string };
}

interface Job {
  id: string;
  kind: string;
  name: string;
  state: JobView["state"];
  stage: string;
  done: number;
  total: number;
  unit: string;
  stageStarted: number;
  stageStartDone: number;
  started: number;
  finished?: number;
  log: string[];
  result?: unknown;
  error?: { code: string; message: string };
}

const MAX_LOG = 50;
const MAX_KEPT = 20;

export class Jobs {
  private readonly jobs = new Map<string, Job>();

  /**
   * Starts `run` as a job. Resolves once the work reported its first progress (so its input
   * was accepted) with the job's view; rejects with the work's error if it fails before that,
   * so bad input still gets a plain 4xx answer instead of a failed job.
   */
  start(kind: string, name: string, run: (progress: (p: JobProgress) => void) => Promise<unknown>): Promise<JobView> {
    const busy = [...this.jobs.values()].find((j) => j.state === "running");
    if (busy) throw new HttpError("CONFLICT", `job ${busy.id} (${busy.kind} "${busy.name}") is still running; one at a time`);
    const now = Date.now();
    const job: Job = { id: randomBytes(6).toString("hex"), kind, name, state: "running", stage: "starting", done: 0, total: 0, unit: "", stageStarted: now, stageStartDone: 0, started: now, log: [] };
    return new Promise<JobView>((resolve, reject) => {
      let accepted = false;
      const accept = (): void => {
        if (accepted) return;
        accepted = true;
        this.keep(job);
        resolve(this.view(job));
      };
      const progress = (p: JobProgress): void => {
        if (p.message !== undefined) {
          job.log.push(`${p.stage}: ${p.message}`);
          if (job.log.length > MAX_LOG) job.log.splice(0, job.log.length - MAX_LOG);
        } else if (p.total > 0) {
          if (p.stage !== job.stage || p.total !== job.total || p.done < job.done) {
            job.stageStarted = Date.now();
            job.stageStartDone = p.done;
          }
          job.stage = p.stage;
          job.done = p.done;
          job.total = p.total;
          job.unit = p.unit;
        }
        accept();
      };
      run(progress).then(
        (result) => {
          job.state = "done";
          job.result = result;
          job.finished = Date.now();
          accept();
        },
        (err: unknown) => {
          if (!accepted) {
            reject(err);
            return;
          }
          const { error } = toHttpError(err);
          job.state = "failed";
          job.error = { code: error.code, message: error.message };
          job.finished = Date.now();
        },
      );
    });
  }

  get(id: string): JobView {
    const job = this.jobs.get(id);
    if (!job) throw new HttpError("NOT_FOUND", `no job ${id} (jobs are kept in memory until the service restarts)`);
    return this.view(job);
  }

  list(): JobView[] {
    return [...this.jobs.values()].map((j) => this.view(j)).reverse();
  }

  private keep(job: Job): void {
    this.jobs.set(job.id, job);
    const old = [...this.jobs.values()].filter((j) => j.state !== "running");
    while (this.jobs.size > MAX_KEPT && old.length > 0) this.jobs.delete(old.shift()!.id);
  }

  private view(j: Job): JobView {
    const now = j.finished ?? Date.now();
    const stageSeconds = (now - j.stageStarted) / 1000;
    const rate = stageSeconds > 0.5 ? (j.done - j.stageStartDone) / stageSeconds : 0;
    const eta = j.state === "running" && rate > 0 && j.total > j.done ? (j.total - j.done) / rate : undefined;
    return {
      id: j.id,
      kind: j.kind,
      name: j.name,
      state: j.state,
      stage: j.stage,
      done: j.done,
      total: j.total,
      unit: j.unit,
      rate: Math.round(rate * 100) / 100,
      ...(eta !== undefined ? { etaSeconds: Math.round(eta) } : {}),
      elapsedSeconds: Math.round((now - j.started) / 100) / 10,
      log: [...j.log],
      ...(j.result !== undefined ? { result: j.result } : {}),
      ...(j.error !== undefined ? { error: j.error } : {}),
    };
  }
}
