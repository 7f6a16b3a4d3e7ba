import assert from "node:assert/strict";
import type { BudgetClock } from "./budget.ts";
import { ERRORS } from "../../_shared/errors.ts";
import { fakeBucket, FakeJobs, keys, noSleep, sqlError } from "./testdata/fakes.ts";
import { runSlice, type SliceOptions } from "./slice.ts";
import { asHostedRuntime } from "./testdata/hosted_process.ts";

// Every slice here runs as on hosted Supabase: no `process.cpuUsage`.
asHostedRuntime();

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
  const jobs = FakeJobs.running();
  const bucket = fakeBucket(keys(95));
  const outcome = await runSlice(options(jobs, bucket));
  assert.equal(outcome.state, "finished");
  assert.equal(jobs.acceptedKeys().size, 95);
  assert.equal(jobs.job.pages, 10);
  assert.equal(jobs.invocations.length, 1);
  assert.deepEqual({ ...jobs.invocations[0], wallMs: 0 }, {
    cpuMs: null,
    wallMs: 0,
    pages: 10,
    keys: 95,
    clocks: ["wall", "work"],
  });
});

Deno.test("runSlice() without process.cpuUsage stops at its page budget and records the clocks it used", async () => {
  const jobs = FakeJobs.running();
  const bucket = fakeBucket(keys(95));
  const states: string[] = [];
  for (let slice = 0; slice < 10; slice++) {
    const outcome = await runSlice(
      options(jobs, bucket, { budget: { cpuMs: 1, wallMs: 60_000, pages: 3 } }),
    );
    states.push(outcome.state);
    if (outcome.state !== "more") break;
  }
  assert.deepEqual(states, ["more", "more", "more", "finished"]);
  assert.deepEqual(jobs.invocations.map((i) => i.pages), [3, 3, 3, 1]);
  assert.equal(jobs.job.listed, 95, "no page was staged twice");
  for (const invocation of jobs.invocations) {
    assert.equal(invocation.cpuMs, null);
    assert.deepEqual(invocation.clocks, ["wall", "work"]);
  }
});

Deno.test("runSlice() stops before its CPU budget would overrun; the next slice resumes from the token", async () => {
  const jobs = FakeJobs.running();
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
  assert.equal(jobs.acceptedKeys().size, 95);
  assert.equal(jobs.job.listed, 95, "no page was staged twice");
  for (const invocation of jobs.invocations) {
    assert.ok(invocation.cpuMs !== null && invocation.cpuMs <= 100, `${invocation.cpuMs}`);
    assert.deepEqual(invocation.clocks, ["cpu", "wall", "work"]);
  }
  // The prefetch is only issued when the page will be used: no listing is wasted.
  assert.equal(bucket.listed, 10);
});

Deno.test("runSlice() fails the job with a readable error when a page cannot be listed, index untouched", async () => {
  const jobs = FakeJobs.running();
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
  const jobs = FakeJobs.running();
  jobs.faults.push({ method: "stagePage", error: sqlError("ECONNREFUSED"), times: 100 });
  const outcome = await runSlice(options(jobs, fakeBucket(keys(30))));
  assert.equal(outcome.state, "paused");
  assert.equal(jobs.job.status, "running");
  assert.ok(!jobs.calls.includes("fail") && !jobs.calls.includes("finish"));
  assert.equal(jobs.calls.filter((c) => c === "stagePage").length, 5, "retried with backoff");
});

Deno.test("runSlice() sends a page's request once the page before named its token, before that page is read", async () => {
  const jobs = FakeJobs.running();
  const bucket = fakeBucket(keys(50), undefined, { announce: true });
  const outcome = await runSlice(options(jobs, bucket));
  assert.equal(outcome.state, "finished");
  assert.deepEqual([...jobs.acceptedKeys()].sort(), keys(50), "every key staged once");
  // Pages of 10: each next request went out before the page naming it was answered.
  for (const token of ["10", "20", "30", "40"]) {
    const before = String(Number(token) - 10).replace(/^0$/, "start");
    assert.ok(
      bucket.log.indexOf(`request ${token}`) < bucket.log.indexOf(`answered ${before}`),
      bucket.log.join(", "),
    );
  }
  assert.equal(bucket.log.filter((e) => e.startsWith("request")).length, 5, bucket.log.join(", "));
});

Deno.test("a finish that meets its lock timeout (55P03) pauses the job instead of failing it", async () => {
  const jobs = FakeJobs.running();
  jobs.faults.push({ method: "finish", error: sqlError("55P03"), times: 100 });
  const outcome = await runSlice(options(jobs, fakeBucket(keys(30))));
  assert.equal(outcome.state, "paused");
  assert.equal(jobs.job.status, "running", "resumed once its lease expires");
  assert.ok(!jobs.calls.includes("fail"));
});

Deno.test("runSlice() goes on when a page committed but its reply was lost to a connection reset", async () => {
  const jobs = FakeJobs.running();
  jobs.faults.push({ method: "stagePage", error: sqlError("ECONNRESET"), times: 1, commit: true });
  const outcome = await runSlice(options(jobs, fakeBucket(keys(30))));
  assert.equal(outcome.state, "finished");
  assert.equal(jobs.job.listed, 30);
  assert.equal(jobs.acceptedKeys().size, 30);
});

Deno.test("runSlice() stops quietly when the job is cancelled under it", async () => {
  const jobs = FakeJobs.running();
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
  const jobs = FakeJobs.running();
  jobs.job.lease_owner = "other";
  jobs.job.lease_expires_at = new Date(Date.now() + 60_000).toISOString();
  const bucket = fakeBucket(keys(10));
  const outcome = await runSlice(options(jobs, bucket));
  assert.equal(outcome.state, "busy");
  assert.equal(bucket.listed, 0);
});

Deno.test("runSlice() leaves a listed reconcile for review, and applies one marked apply", async () => {
  const review = FakeJobs.running("reconcile", { apply: false });
  assert.equal((await runSlice(options(review, fakeBucket(keys(15))))).state, "listed");
  assert.equal(review.job.status, "running");
  assert.ok(review.job.listing_complete);

  const apply = FakeJobs.running("reconcile", { apply: true });
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
  const jobs = FakeJobs.running();
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
