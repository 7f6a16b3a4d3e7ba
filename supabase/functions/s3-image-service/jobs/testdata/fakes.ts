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
  KeyRange,
  RebuildJob,
  RebuildJobs,
  StagedRangePage,
} from "../job_store.ts";
import type { ListedKey } from "../listing_page.ts";
import { compareKeys } from "../key_space.ts";
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
  /** Every key staged, in staging order, per job: a key in it twice was counted twice. */
  stagedLog = new Map<number, string[]>();
  /** Key ranges of partitioned jobs, with their lease expiry in ms. */
  ranges = new Map<number, Array<KeyRange & { expires: number }>>();
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
    this.stagedLog.set(id, []);
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
      if (job.ranges) throw sqlError("40001", "its listing is split into ranges");
      this.#stage(jobId, page.objects);
      job.continuation_token = page.nextToken;
      job.listing_complete = page.nextToken === null;
      job.pages++;
      job.listed += page.objects.length;
      return Promise.resolve(structuredClone(job));
    });
  }

  #stage(jobId: number, objects: ReadonlyArray<ListedKey>) {
    for (const object of objects) {
      this.staged.get(jobId)!.set(object.key, { size: object.size, etag: object.etag });
      this.stagedLog.get(jobId)!.push(object.key);
    }
  }

  /** Recounts a partitioned job's ranges into it and renews its lease for `worker`. */
  #touch(job: RebuildJob, worker: string, leaseSeconds: number) {
    const ranges = this.ranges.get(job.id) ?? [];
    const done = ranges.filter((r) => r.complete).length;
    job.ranges = { total: ranges.length, done };
    job.listing_complete = ranges.length > 0 && done === ranges.length;
    job.lease_owner = worker;
    job.lease_expires_at = new Date(Date.now() + leaseSeconds * 1000).toISOString();
  }

  static #view({ expires: _, ...range }: KeyRange & { expires: number }): KeyRange {
    return structuredClone(range);
  }

  partition(
    jobId: number,
    worker: string,
    page: {
      previousToken: string | null;
      objects: ReadonlyArray<ListedKey>;
      afterKey: string;
      boundaries: string[];
    },
  ) {
    return this.#call("partition", () => {
      const job = this.#running(jobId);
      if (job.lease_owner !== worker) throw sqlError("40001", "lease lost");
      if (job.ranges || job.listing_complete || job.continuation_token !== page.previousToken) {
        throw sqlError("40001", "the page was staged already");
      }
      const starts = [page.afterKey, ...page.boundaries];
      this.ranges.set(
        jobId,
        starts.map((start, i) => ({
          range: i + 1,
          start_after: start,
          up_to: page.boundaries[i] ?? null,
          last_key: null,
          complete: false,
          lease_owner: null,
          pages: 0,
          listed: 0,
          expires: 0,
        })),
      );
      this.#stage(jobId, page.objects);
      job.pages++;
      job.listed += page.objects.length;
      job.continuation_token = null;
      this.#touch(job, worker, job.lease_seconds);
      return structuredClone(job);
    });
  }

  /** What {@linkcode sizeEstimate} answers; default: the index's size. */
  estimate?: number;

  sizeEstimate() {
    return this.#call("sizeEstimate", () => this.estimate ?? this.index.rows.size);
  }

  /** The index's keys after `after` cut into `parts` runs, exactly (the real one samples). */
  keyQuantiles(after: string, parts: number) {
    return this.#call("keyQuantiles", () => {
      const keys = [...this.index.rows.keys()].filter((key) => compareKeys(key, after) > 0)
        .sort(compareKeys);
      const cuts = Array.from(
        { length: Math.max(0, parts - 1) },
        (_, i) => keys[Math.floor(((i + 1) * keys.length) / parts)],
      );
      return cuts.filter((key, i) => key !== undefined && key !== cuts[i - 1]);
    });
  }

  claimRanges(jobId: number, worker: string, leaseSeconds: number, maxRanges: number) {
    return this.#call("claimRanges", () => {
      const job = this.#job(jobId);
      if (job.status !== "running") return null;
      const ranges = this.ranges.get(jobId);
      if (!ranges) {
        return { job: structuredClone(job), ranges: [], free: 0, workers: 0, open: [] };
      }
      const now = Date.now();
      const open = ranges.filter((r) => !r.complete);
      const mine = open.filter((r) => r.lease_owner === worker);
      for (const r of mine.slice(maxRanges)) Object.assign(r, { lease_owner: null, expires: 0 });
      const takeable = open.filter((r) =>
        r.lease_owner === null || r.lease_owner === worker || r.expires <= now
      ).sort((a, b) =>
        Number(b.lease_owner === worker) - Number(a.lease_owner === worker) || a.range - b.range
      ).slice(0, maxRanges);
      for (const r of takeable) {
        Object.assign(r, { lease_owner: worker, expires: now + leaseSeconds * 1000 });
      }
      if (takeable.length) this.#touch(job, worker, leaseSeconds);
      return {
        job: structuredClone(job),
        ranges: takeable.sort((a, b) => a.range - b.range).map(FakeJobs.#view),
        free: open.filter((r) => r.lease_owner === null || r.expires <= now).length,
        workers: new Set(open.filter((r) => r.expires > now).map((r) => r.lease_owner)).size,
        open: open.map(FakeJobs.#view),
      };
    });
  }

  stageRangePage(jobId: number, worker: string, page: StagedRangePage) {
    return this.#call("stageRangePage", () => {
      const job = this.#running(jobId);
      const range = this.ranges.get(jobId)?.find((r) => r.range === page.range);
      if (!range || range.lease_owner !== worker) throw sqlError("40001", "range lease lost");
      if (range.complete || range.last_key !== page.previousKey) {
        throw sqlError("40001", "the page was staged already");
      }
      if (
        page.lastKey !== null && range.up_to !== null && compareKeys(page.lastKey, range.up_to) > 0
      ) {
        throw sqlError("40001", `the page ends past the end of range ${range.range}`);
      }
      this.#stage(jobId, page.objects);
      range.last_key = page.lastKey ?? range.last_key;
      range.complete = page.complete;
      range.pages++;
      range.listed += page.objects.length;
      range.expires = Date.now() + job.lease_seconds * 1000;
      job.pages++;
      job.listed += page.objects.length;
      this.#touch(job, worker, job.lease_seconds);
      return { job: structuredClone(job), range: FakeJobs.#view(range) };
    });
  }

  splitRange(jobId: number, rangeId: number, worker: string, atKey: string, leaseSeconds: number) {
    return this.#call("splitRange", () => {
      const job = this.#running(jobId);
      const ranges = this.ranges.get(jobId) ?? [];
      const range = ranges.find((r) => r.range === rangeId);
      const position = range?.last_key ?? range?.start_after;
      if (
        !range || range.complete || compareKeys(atKey, position!) <= 0 ||
        (range.up_to !== null && compareKeys(atKey, range.up_to) >= 0)
      ) {
        throw sqlError("40001", `Cannot split range ${rangeId} at "${atKey}"`);
      }
      const created = {
        range: Math.max(...ranges.map((r) => r.range)) + 1,
        start_after: atKey,
        up_to: range.up_to,
        last_key: null,
        complete: false,
        lease_owner: worker,
        pages: 0,
        listed: 0,
        expires: Date.now() + leaseSeconds * 1000,
      };
      ranges.push(created);
      range.up_to = atKey;
      this.#touch(job, worker, leaseSeconds);
      return { job: structuredClone(job), range: FakeJobs.#view(created) };
    });
  }

  /** Lets every range lease of the latest job run out, as if its workers died. */
  expireRangeLeases() {
    for (const range of this.ranges.get(this.job.id) ?? []) range.expires = 0;
    this.job.lease_expires_at = new Date(0).toISOString();
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
export function fakeBucket(
  keys: string[],
  clock?: { cpu: number; cpuPerPage: number },
  /**
   * `announce`: answer a task later, telling `onNextToken` the next token at once (as the S3
   * client does when an answer's head arrives); `log` records `request <token>` and
   * `answered <token>` in order.
   */
  behaviour: { announce?: boolean } = {},
) {
  const sorted = [...keys].sort();
  const listFaults: unknown[] = [];
  const log: string[] = [];
  return {
    listFaults,
    log,
    listed: 0,
    listPage(
      options: {
        token?: string;
        startAfter?: string;
        maxKeys?: number;
        onNextToken?: (token: string) => void;
      } = {},
    ): Promise<ListPage> {
      this.listed++;
      if (clock) clock.cpu += clock.cpuPerPage;
      const fault = listFaults.shift();
      if (fault) return Promise.reject(fault);
      const after = options.token === undefined && options.startAfter !== undefined
        ? sorted.findIndex((key) => compareKeys(key, options.startAfter!) > 0)
        : undefined;
      const start = after === undefined
        ? Number(options.token ?? 0)
        : after < 0
        ? sorted.length
        : after;
      const end = start + (options.maxKeys ?? 1000);
      const page: ListPage = {
        objects: sorted.slice(start, end).map((key) => ({
          key,
          size: key.length,
          etag: "e",
          lastModified: new Date(0),
        })),
        nextToken: end < sorted.length ? String(end) : undefined,
      };
      if (!behaviour.announce) return Promise.resolve(page);
      const name = options.token ?? "start";
      log.push(`request ${name}`);
      // The answer's head (with its token) after a network's wait, the whole page a task later.
      return new Promise((resolve) =>
        setTimeout(() => {
          if (page.nextToken !== undefined) options.onNextToken?.(page.nextToken);
          setTimeout(() => {
            log.push(`answered ${name}`);
            resolve(page);
          }, 0);
        }, 5)
      );
    },
  };
}

export const keys = (n: number) =>
  Array.from({ length: n }, (_, i) => `k-${String(i).padStart(5, "0")}.jpg`);
export const noSleep = () => Promise.resolve();
