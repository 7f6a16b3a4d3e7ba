/**
 * Test doubles of the rebuild engine: the SQL rebuild primitives in memory over a fake index
 * (one running job, leases, the page compare-and-set, the mass-removal guard, scripted faults),
 * a continuation that only records hand-offs, and a bucket listed page by page. The one
 * `FakeJobs` of the project: slice, service and handler tests all use it.
 *
 * @module
 */
import type {
  InvocationCost,
  JobMode,
  JobPreview,
  JobSummary,
  RebuildJob,
  RebuildJobs,
} from "../job_store.ts";
import type { Continuation, ContinueRequest, HandOff } from "../continuation.ts";
import type { ListPage } from "../../../_shared/platform/storage.ts";
import { filenameProblem } from "../../../_shared/images/names.ts";
import { FakeIndex } from "../../../_shared/images/testdata/fake_index.ts";
import { sqlError } from "../../../_shared/platform/testdata/sql_error.ts";

export { sqlError };

/**
 * The SQL rebuild primitives over a {@linkcode FakeIndex}: one running job, leases, the
 * continuation-token compare-and-set, and a finish that applies the delta unless it would
 * remove more than half of the index without force (then `needs_confirmation`).
 */
export class FakeJobs implements RebuildJobs {
  jobs = new Map<number, RebuildJob>();
  staged = new Map<number, Map<string, { size: number; etag: string }>>();
  #nextId = 1;

  /** What each invocation recorded (`recordInvocation`). */
  invocations: InvocationCost[] = [];
  /** Every method called, in order. */
  calls: string[] = [];
  /** Makes the next calls of a method fail; `commit` lets the call take effect first. */
  faults: Array<{ method: string; error: unknown; times: number; commit?: boolean }> = [];

  constructor(readonly index: FakeIndex = new FakeIndex()) {}

  /** A store holding one running job (id 1), as a worker finds it; the index starts empty. */
  static running(mode: JobMode = "rebuild", summary: JobSummary | null = null): FakeJobs {
    const jobs = new FakeJobs();
    jobs.add({ mode, summary });
    return jobs;
  }

  /** The latest job, live (a test may change it under the worker). */
  get job(): RebuildJob {
    const job = [...this.jobs.values()].at(-1);
    if (!job) throw new Error("no job yet: add() or start() one");
    return job;
  }

  /** Names of the latest job's staged keys that the naming rules accept. */
  acceptedKeys(): Set<string> {
    return new Set(
      [...this.staged.get(this.job.id)!.keys()].filter((key) => !filenameProblem(key)),
    );
  }

  async #call<T>(method: string, body: () => T | Promise<T>): Promise<T> {
    this.calls.push(method);
    await Promise.resolve();
    const fault = this.faults.find((f) => f.method === method && f.times > 0);
    if (fault) {
      fault.times--;
      if (fault.commit) await body();
      throw fault.error;
    }
    return await body();
  }

  #job(id: number): RebuildJob {
    const job = this.jobs.get(id);
    if (!job) throw sqlError("P0002", `Rebuild job ${id} does not exist`);
    return job;
  }

  #running(id: number): RebuildJob {
    const job = this.#job(id);
    if (job.status !== "running") {
      throw sqlError("55000", `Rebuild job ${id} is not running (status: ${job.status})`);
    }
    return job;
  }

  /** Adds a job as the SQL API would have it (tests set the state they need). */
  add(patch: Partial<RebuildJob> = {}): RebuildJob {
    const id = this.#nextId++;
    const job: RebuildJob = {
      id,
      mode: "rebuild",
      status: "running",
      started_by: "test",
      started_at: new Date(Date.now() - 1000).toISOString(),
      finished_at: null,
      continuation_token: null,
      listing_complete: false,
      pages: 0,
      listed: 0,
      skipped: 0,
      inserted: 0,
      updated: 0,
      removed: 0,
      error: null,
      force: false,
      lease_owner: null,
      lease_expires_at: null,
      lease_seconds: 60,
      invocations: [],
      summary: null,
      ...patch,
    };
    this.jobs.set(id, job);
    this.staged.set(id, new Map());
    return job;
  }

  start(startedBy: string, mode: JobMode, force = false) {
    return this.#call("start", () => {
      const running = [...this.jobs.values()].find((job) => job.status === "running");
      if (running) {
        return Promise.resolve({
          started: false,
          job: structuredClone(running),
          message: `Job ${running.id} is already running`,
        });
      }
      const job = this.add({ mode, started_by: startedBy, force });
      return Promise.resolve({ started: true, job: structuredClone(job) });
    });
  }

  force(jobId: number) {
    return this.#call("force", () => {
      const job = this.#running(jobId);
      job.force = true;
      return Promise.resolve(structuredClone(job));
    });
  }

  claim(jobId: number, worker: string, leaseSeconds: number) {
    return this.#call("claim", () => {
      const job = this.#job(jobId);
      const held = job.lease_owner && job.lease_owner !== worker &&
        new Date(job.lease_expires_at!).getTime() > Date.now();
      if (job.status !== "running" || held) return Promise.resolve(null);
      job.lease_owner = worker;
      job.lease_expires_at = new Date(Date.now() + leaseSeconds * 1000).toISOString();
      return Promise.resolve(structuredClone(job));
    });
  }

  stagePage(
    jobId: number,
    worker: string,
    page: Parameters<RebuildJobs["stagePage"]>[2],
  ) {
    return this.#call("stagePage", () => {
      const job = this.#running(jobId);
      if (job.lease_owner !== worker) throw sqlError("40001", "lease lost");
      if (job.listing_complete || job.continuation_token !== page.previousToken) {
        throw sqlError("40001", "the page was staged already");
      }
      for (const object of page.objects) {
        this.staged.get(jobId)!.set(object.key, { size: object.size, etag: object.etag });
      }
      job.continuation_token = page.nextToken;
      job.listing_complete = page.nextToken === null;
      job.pages++;
      job.listed += page.objects.length;
      return Promise.resolve(structuredClone(job));
    });
  }

  recordInvocation(_: number, cost: InvocationCost) {
    return this.#call("recordInvocation", () => void this.invocations.push(cost));
  }

  #delta(jobId: number) {
    const listed = [...this.staged.get(jobId)!].filter(([key]) => !filenameProblem(key));
    const names = new Set(listed.map(([key]) => key));
    const toInsert = listed.filter(([key]) => !this.index.rows.has(key)).map(([key]) => key);
    const changed = listed.filter(([key, o]) =>
      this.index.rows.has(key) && this.index.rows.get(key)!.etag !== o.etag
    ).map(([key]) => key);
    const toRemove = [...this.index.rows.keys()].filter((key) => !names.has(key));
    return { listed, toInsert, changed, toRemove };
  }

  preview(jobId: number, sampleLimit: number): Promise<JobPreview> {
    return this.#call("preview", () => {
      const { toInsert, changed, toRemove } = this.#delta(jobId);
      return Promise.resolve({
        job_id: jobId,
        to_insert: toInsert.length,
        to_update: changed.length,
        to_remove: toRemove.length,
        skipped: this.#job(jobId).listed - this.#delta(jobId).listed.length,
        missing_from_index: toInsert.slice(0, sampleLimit),
        missing_from_bucket: toRemove.slice(0, sampleLimit),
        changed: changed.slice(0, sampleLimit),
      });
    });
  }

  finish(jobId: number) {
    return this.#call("finish", () => {
      const job = this.#running(jobId);
      if (!job.listing_complete) throw sqlError("55000", "the listing is not complete");
      const { listed, toInsert, changed, toRemove } = this.#delta(jobId);
      const ended = new Date().toISOString();
      if (toRemove.length * 2 > this.index.rows.size && !job.force) {
        Object.assign(job, {
          status: "needs_confirmation",
          finished_at: ended,
          lease_owner: null,
          summary: {
            ...job.summary,
            guard: {
              index_count: this.index.rows.size,
              would_insert: toInsert.length,
              would_update: changed.length,
              would_remove: toRemove.length,
              removed_samples: toRemove.slice(0, 10),
            },
          },
        });
        return Promise.resolve(structuredClone(job));
      }
      for (const key of toRemove) this.index.rows.delete(key);
      for (const [key, object] of listed) {
        if (toInsert.includes(key) || changed.includes(key)) {
          void this.index.add(key, { sizeBytes: object.size, etag: object.etag });
        }
      }
      Object.assign(job, {
        status: "succeeded",
        finished_at: ended,
        lease_owner: null,
        inserted: toInsert.length,
        updated: changed.length,
        removed: toRemove.length,
        skipped: job.listed - listed.length,
      });
      return Promise.resolve(structuredClone(job));
    });
  }

  fail(jobId: number, error: string) {
    return this.#call("fail", () => {
      const job = this.#running(jobId);
      Object.assign(job, { status: "failed", error, finished_at: new Date().toISOString() });
      return Promise.resolve(structuredClone(job));
    });
  }

  cancel(jobId: number) {
    return this.#call("cancel", () => {
      const job = this.#running(jobId);
      Object.assign(job, { status: "cancelled", finished_at: new Date().toISOString() });
      return Promise.resolve(structuredClone(job));
    });
  }

  status(jobId?: number) {
    return this.#call("status", () => {
      const job = jobId === undefined ? [...this.jobs.values()].at(-1) : this.jobs.get(jobId);
      return Promise.resolve(job ? { job: structuredClone(job), now: new Date() } : null);
    });
  }

  annotate(jobId: number, patch: JobSummary) {
    return this.#call("annotate", () => {
      const job = this.#job(jobId);
      // Like the SQL API: samples accumulate across invocations, every other key is replaced.
      const { skipped_samples, ...rest } = patch;
      const summary = { ...job.summary, ...rest };
      if (skipped_samples) {
        summary.skipped_samples = [...(job.summary?.skipped_samples ?? []), ...skipped_samples];
      }
      job.summary = summary;
    });
  }
}

/** A continuation that records what it was asked to hand on (nothing runs). */
export class RecordingContinuation implements Continuation {
  scheduled: ContinueRequest[] = [];
  schedule(request: ContinueRequest) {
    this.scheduled.push(request);
    return Promise.resolve<HandOff>("called");
  }
}

/** A bucket of `keys` listed `pageSize` at a time; each page costs `cpuPerPage` fake CPU ms. */
export function fakeBucket(keys: string[], clock?: { cpu: number; cpuPerPage: number }) {
  const sorted = [...keys].sort();
  const listFaults: unknown[] = [];
  return {
    listFaults,
    listed: 0,
    listPage(options: { token?: string; maxKeys?: number } = {}): Promise<ListPage> {
      this.listed++;
      if (clock) clock.cpu += clock.cpuPerPage;
      const fault = listFaults.shift();
      if (fault) return Promise.reject(fault);
      const start = Number(options.token ?? 0);
      const end = start + (options.maxKeys ?? 1000);
      return Promise.resolve({
        objects: sorted.slice(start, end).map((key) => ({
          key,
          size: key.length,
          etag: "e",
          lastModified: new Date(0),
        })),
        nextToken: end < sorted.length ? String(end) : undefined,
      });
    },
  };
}

export const keys = (n: number) =>
  Array.from({ length: n }, (_, i) => `k-${String(i).padStart(5, "0")}.jpg`);
export const noSleep = () => Promise.resolve();
