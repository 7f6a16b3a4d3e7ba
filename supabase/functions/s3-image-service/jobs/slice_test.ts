import assert from "node:assert/strict";
import type { BudgetClock } from "./budget.ts";
import { ERRORS } from "../../_shared/http/errors.ts";
import type {
  InvocationCost,
  JobSummary,
  RebuildJob,
  RebuildJobs,
  StagedPage,
} from "./job_store.ts";
import { runSlice, type SliceOptions } from "./slice.ts";
import type { ListPage } from "../../_shared/platform/storage.ts";

const sqlError = (code: string, message = code) => Object.assign(new Error(message), { code });

/**
 * The SQL rebuild primitives in memory, with the rules that matter to a worker: leases, the
 * compare-and-set on the continuation token, one finish.
 */
class FakeJobs implements RebuildJobs {
  job: RebuildJob;
  staged = new Map<string, number>();
  /** Listed keys the rules refuse; like the SQL API, finish counts them as skipped. */
  refused = new Set<string>();
  invocations: InvocationCost[] = [];
  calls: string[] = [];
  /** Makes the next calls of a method fail; `commit` lets the call take effect first. */
  faults: Array<{ method: string; error: unknown; times: number; commit?: boolean }> = [];

  constructor(mode: "rebuild" | "reconcile" = "rebuild", summary: JobSummary | null = null) {
    this.job = {
      id: 1,
      mode,
      status: "running",
      started_by: "test",
      started_at: new Date().toISOString(),
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
      summary,
    };
  }

  async #call<T>(method: string, body: () => T): Promise<T> {
    this.calls.push(method);
    await Promise.resolve();
    const fault = this.faults.find((f) => f.method === method && f.times > 0);
    if (fault) {
      fault.times--;
      if (fault.commit) body();
      throw fault.error;
    }
    return body();
  }

  start(): never {
    throw new Error("not used");
  }

  force(): never {
    throw new Error("not used");
  }

  claim(_: number, worker: string) {
    return this.#call("claim", () => {
      const j = this.job;
      const free = !j.lease_owner || j.lease_owner === worker ||
        new Date(j.lease_expires_at!).getTime() <= Date.now();
      if (j.status !== "running" || !free) return null;
      j.lease_owner = worker;
      j.lease_expires_at = new Date(Date.now() + 60_000).toISOString();
      return structuredClone(j);
    });
  }

  stagePage(_: number, worker: string, page: StagedPage) {
    return this.#call("stagePage", () => {
      const j = this.job;
      if (j.status !== "running") throw sqlError("55000", "not running");
      if (j.lease_owner !== worker) throw sqlError("40001", "lease");
      if (j.listing_complete || j.continuation_token !== page.previousToken) {
        throw sqlError("40001", "token");
      }
      for (const object of page.objects) {
        if (/^[\w-]+\.jpg$/.test(object.key)) this.staged.set(object.key, object.size);
        else this.refused.add(object.key);
      }
      j.continuation_token = page.nextToken;
      j.listing_complete = page.nextToken === null;
      j.pages++;
      j.listed += page.objects.length;
      return structuredClone(j);
    });
  }

  recordInvocation(_: number, cost: InvocationCost) {
    return this.#call("recordInvocation", () => void this.invocations.push(cost));
  }

  preview(): never {
    throw new Error("not used");
  }

  finish() {
    return this.#call("finish", () => {
      if (this.job.status !== "running") throw sqlError("55000", "not running");
      Object.assign(this.job, {
        status: "succeeded",
        inserted: this.staged.size,
        skipped: this.refused.size,
      });
      return structuredClone(this.job);
    });
  }

  fail(_: number, error: string) {
    return this.#call("fail", () => {
      if (this.job.status !== "running") throw sqlError("55000", "not running");
      Object.assign(this.job, { status: "failed", error });
      return structuredClone(this.job);
    });
  }

  cancel() {
    return this.#call("cancel", () => {
      Object.assign(this.job, { status: "cancelled" });
      return structuredClone(this.job);
    });
  }

  status() {
    return this.#call("status", () => ({ job: structuredClone(this.job), now: new Date() }));
  }

  annotate(_: number, patch: JobSummary) {
    return this.#call("annotate", () => {
      const { skipped_samples = [], ...rest } = patch;
      const summary = { ...this.job.summary, ...rest };
      summary.skipped_samples = [...(summary.skipped_samples ?? []), ...skipped_samples];
      this.job.summary = summary;
    });
  }
}

/** A bucket of `keys` listed `pageSize` at a time; each page costs `cpuPerPage` fake CPU ms. */
function fakeBucket(keys: string[], clock?: { cpu: number; cpuPerPage: number }) {
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

const keys = (n: number) =>
  Array.from({ length: n }, (_, i) => `k-${String(i).padStart(5, "0")}.jpg`);
const noSleep = () => Promise.resolve();

function options(
  jobs: FakeJobs,
  storage: SliceOptions["storage"],
  extra: Partial<SliceOptions> = {},
) {
  return {
    jobs,
    storage,
    jobId: 1,
    worker: "w1",
    leaseSeconds: 60,
    budget: { cpuMs: 10_000, wallMs: 60_000 },
    pageSize: 10,
    sleep: noSleep,
    ...extra,
  } satisfies SliceOptions;
}

Deno.test("runSlice() lists every page, stages each once and finishes within a roomy budget", async () => {
  const jobs = new FakeJobs();
  const bucket = fakeBucket(keys(95));
  const outcome = await runSlice(options(jobs, bucket));
  assert.equal(outcome.state, "finished");
  assert.equal(jobs.staged.size, 95);
  assert.equal(jobs.job.pages, 10);
  assert.equal(jobs.invocations.length, 1);
  assert.deepEqual({ ...jobs.invocations[0], cpuMs: 0, wallMs: 0 }, {
    cpuMs: 0,
    wallMs: 0,
    pages: 10,
    keys: 95,
  });
});

Deno.test("runSlice() stops before its CPU budget would overrun; the next slice resumes from the token", async () => {
  const jobs = new FakeJobs();
  const cost = { cpu: 0, cpuPerPage: 30 };
  const clock: BudgetClock = { cpuMs: () => cost.cpu, wallMs: () => 0 };
  const bucket = fakeBucket(keys(95), cost);
  const states: string[] = [];
  for (let slice = 0; slice < 10; slice++) {
    const outcome = await runSlice(
      options(jobs, bucket, { budget: { cpuMs: 100, wallMs: 1e6 }, clock }),
    );
    states.push(outcome.state);
    if (outcome.state !== "more") break;
  }
  assert.equal(states.at(-1), "finished");
  assert.ok(states.length >= 3, `expected several slices, got ${states.join(",")}`);
  assert.equal(jobs.staged.size, 95);
  assert.equal(jobs.job.listed, 95, "no page was staged twice");
  for (const invocation of jobs.invocations) {
    assert.ok(invocation.cpuMs <= 100, `${invocation.cpuMs}`);
  }
  // The prefetch is only issued when the page will be used: no listing is wasted.
  assert.equal(bucket.listed, 10);
});

Deno.test("runSlice() fails the job with a readable error when a page cannot be listed, index untouched", async () => {
  const jobs = new FakeJobs();
  const bucket = fakeBucket(keys(30));
  bucket.listFaults.push(
    undefined,
    ERRORS.StorageUnavailable("Image storage is unavailable right now; try again"),
  );
  const outcome = await runSlice(options(jobs, bucket));
  assert.equal(outcome.state, "failed");
  assert.equal(
    jobs.job.error,
    "Listing the bucket failed after 1 page(s) (10 keys): Image storage is unavailable right now; try again",
  );
  assert.ok(!jobs.calls.includes("finish"));
});

Deno.test("runSlice() pauses when the database stays unreachable: the job is neither failed nor finished", async () => {
  const jobs = new FakeJobs();
  jobs.faults.push({ method: "stagePage", error: sqlError("ECONNREFUSED"), times: 100 });
  const outcome = await runSlice(options(jobs, fakeBucket(keys(30))));
  assert.equal(outcome.state, "paused");
  assert.equal(jobs.job.status, "running");
  assert.ok(!jobs.calls.includes("fail") && !jobs.calls.includes("finish"));
  assert.equal(jobs.calls.filter((c) => c === "stagePage").length, 5, "retried with backoff");
});

Deno.test("runSlice() goes on when a page committed but its reply was lost to a connection reset", async () => {
  const jobs = new FakeJobs();
  jobs.faults.push({ method: "stagePage", error: sqlError("ECONNRESET"), times: 1, commit: true });
  const outcome = await runSlice(options(jobs, fakeBucket(keys(30))));
  assert.equal(outcome.state, "finished");
  assert.equal(jobs.job.listed, 30);
  assert.equal(jobs.staged.size, 30);
});

Deno.test("runSlice() stops quietly when the job is cancelled under it", async () => {
  const jobs = new FakeJobs();
  const bucket = fakeBucket(keys(50));
  const list = bucket.listPage.bind(bucket);
  bucket.listPage = (o) => {
    if (bucket.listed === 2) jobs.job.status = "cancelled";
    return list(o);
  };
  const outcome = await runSlice(options(jobs, bucket));
  assert.equal(outcome.state, "ended");
  assert.equal(jobs.job.status, "cancelled");
  assert.ok(!jobs.calls.includes("fail") && !jobs.calls.includes("finish"));
});

Deno.test("runSlice() does nothing while another live worker holds the lease", async () => {
  const jobs = new FakeJobs();
  jobs.job.lease_owner = "other";
  jobs.job.lease_expires_at = new Date(Date.now() + 60_000).toISOString();
  const bucket = fakeBucket(keys(10));
  const outcome = await runSlice(options(jobs, bucket));
  assert.equal(outcome.state, "busy");
  assert.equal(bucket.listed, 0);
});

Deno.test("runSlice() leaves a listed reconcile for review, and applies one marked apply", async () => {
  const review = new FakeJobs("reconcile", { apply: false });
  assert.equal((await runSlice(options(review, fakeBucket(keys(15))))).state, "listed");
  assert.equal(review.job.status, "running");
  assert.ok(review.job.listing_complete);

  const apply = new FakeJobs("reconcile", { apply: true });
  assert.equal((await runSlice(options(apply, fakeBucket(keys(15))))).state, "finished");
});

Deno.test("runSlice() hands every refused key to the database for counting and names the first 20", async () => {
  // The skipped count itself is computed by the SQL finish (pgTAP 07 and the rebuild
  // integration test check it): what the slice owes it is every listed key, refused ones
  // included, staged exactly once, and the samples it writes itself, capped at 20.
  const refused = [
    "folder/a.jpg",
    "notes.txt",
    "_incoming/x.png",
    ...Array.from({ length: 22 }, (_, i) => `sub/${String(i).padStart(2, "0")}.jpg`),
  ];
  const jobs = new FakeJobs();
  const handed: string[] = [];
  const stagePage = jobs.stagePage.bind(jobs);
  jobs.stagePage = (id, worker, page) => {
    handed.push(...page.objects.map((object) => object.key));
    return stagePage(id, worker, page);
  };
  const outcome = await runSlice(options(jobs, fakeBucket([...keys(5), ...refused])));
  assert.equal(outcome.state, "finished");
  assert.equal(handed.length, 30, "5 images and 25 refused keys, each staged once");
  assert.deepEqual(handed, [...keys(5), ...refused].sort());
  const samples = jobs.job.summary?.skipped_samples ?? [];
  assert.equal(samples.length, 20, "the first 20 of the 25 refused keys are named");
  assert.deepEqual(samples.slice(0, 3), [
    { key: "_incoming/x.png", problem: "path segments are not allowed" },
    { key: "folder/a.jpg", problem: "path segments are not allowed" },
    {
      key: "notes.txt",
      problem: "only .jpg, .jpeg, .png, .webp, .gif and .avif images are allowed",
    },
  ]);
  assert.deepEqual(
    samples.slice(3).map((sample) => sample.key),
    refused.slice(3, 20),
    "then the sub/ keys in listing order, stopping at 20",
  );
});
