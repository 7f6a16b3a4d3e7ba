import assert from "node:assert/strict";
import type { Continuation, ContinueRequest, HandOff } from "./continuation.ts";
import { ERRORS } from "../../_shared/errors.ts";
import type { ListPage } from "../../_shared/platform/storage.ts";
import { runRangedSlice, trimToRange } from "./ranges.ts";
import {
  createRebuildService,
  RANGES_FROM_PAGES,
  type RebuildDefaults,
  type RebuildService,
} from "./service.ts";
import type { SliceOutcome } from "./slice.ts";
import { fakeBucket, FakeJobs, keys, noSleep } from "./testdata/fakes.ts";
import { asHostedRuntime } from "./testdata/hosted_process.ts";

asHostedRuntime();

const DEFAULTS: RebuildDefaults = {
  budget: { cpuMs: 1, wallMs: 60_000, pages: 4 },
  leaseSeconds: 60,
  cpuClock: false,
  parallelism: 12,
};

function recordingContinuation() {
  const scheduled: ContinueRequest[] = [];
  /** Every request ever scheduled (`scheduled` is emptied as they run). */
  const all: ContinueRequest[] = [];
  const continuation: Continuation = {
    schedule: (request) => {
      scheduled.push(request);
      all.push(request);
      return Promise.resolve<HandOff>("called");
    },
  };
  return { scheduled, all, continuation };
}

/** Runs every scheduled invocation, each round's at once, until none is left. */
async function runAll(service: RebuildService, scheduled: ContinueRequest[]) {
  const outcomes: SliceOutcome[] = [];
  for (let round = 0; scheduled.length && round < 200; round++) {
    outcomes.push(...await Promise.all(scheduled.splice(0).map((r) => service.continueChain(r))));
  }
  assert.equal(scheduled.length, 0, "the invocations came to an end");
  return outcomes;
}

function setup(bucketKeys: string[], defaults = DEFAULTS) {
  const jobs = FakeJobs.running();
  const bucket = fakeBucket(bucketKeys);
  const { scheduled, all, continuation } = recordingContinuation();
  const service = createRebuildService({
    jobs,
    storage: bucket,
    continuation,
    defaults,
    pageSize: 10,
  });
  return { jobs, bucket, scheduled, all, service };
}

const sorted = (list: Iterable<string>) => [...list].sort();

Deno.test("trimToRange() keeps the keys up to the range's end and says the page crossed it", () => {
  const page = ["a", "b", "c", "d"].map((key) => ({
    key,
    size: 1,
    etag: "e",
    lastModified: new Date(0),
  }));
  assert.deepEqual(trimToRange(page, "b").objects.map((o) => o.key), ["a", "b"]);
  assert.equal(trimToRange(page, "b").beyond, true);
  assert.deepEqual(trimToRange(page, "bb").objects.map((o) => o.key), ["a", "b"]);
  assert.equal(trimToRange(page, "d").beyond, false);
  assert.equal(trimToRange(page, null).objects.length, 4);
  assert.equal(trimToRange(page, "0").objects.length, 0);
});

Deno.test("a partitioned rebuild lists every key exactly once over several ranges and workers, and finishes once", async () => {
  const bucketKeys = keys(734);
  const { jobs, scheduled, all, service } = setup(bucketKeys);
  const first = await service.drive(jobs.job, "head");
  assert.notEqual(first.state, "finished");
  const outcomes = [first, ...await runAll(service, scheduled)];

  assert.equal(jobs.job.status, "succeeded");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), sorted(bucketKeys), "each key staged once");
  assert.equal(jobs.job.listed, bucketKeys.length);
  assert.equal(jobs.calls.filter((c) => c === "finish").length, 1);
  assert.equal(outcomes.filter((o) => o.state === "finished").length, 1);
  const ranges = jobs.ranges.get(1)!;
  assert.ok(ranges.length > 3, `cut into ${ranges.length} ranges`);
  assert.ok(jobs.calls.includes("splitRange"), "a busy range was split");
  assert.deepEqual(jobs.job.ranges, { total: ranges.length, done: ranges.length });
  assert.ok(jobs.invocations.length > 2, "several invocations listed it");
  // Parallelism 12 at four streams an invocation: the head starts more workers, which list ranges
  // (`ranged`) under their own names.
  const started = all.filter((r) => r.worker !== "head");
  assert.ok(started.length > 0 && started.every((r) => r.ranged === true));
  const names = new Set(all.map((r) => r.worker));
  assert.ok(names.size >= 2, `workers: ${[...names].join(", ")}`);
});

Deno.test("a job is cut at its first page when the bucket is expected large, else once it has listed RANGES_FROM_PAGES pages", async () => {
  const expected = setup(keys(400));
  expected.jobs.estimate = 400;
  await expected.service.drive(expected.jobs.job, "head");
  assert.equal(expected.jobs.stagedLog.get(1)!.length >= 10, true);
  assert.equal(expected.jobs.ranges.get(1)![0].start_after, "k-00009.jpg", "cut after page 1");

  const unknown = setup(keys(400), { ...DEFAULTS, budget: { cpuMs: 1, wallMs: 60_000 } });
  await unknown.service.drive(unknown.jobs.job, "head");
  const cutAfter = unknown.jobs.ranges.get(1)![0].start_after;
  assert.equal(cutAfter, keys(400)[RANGES_FROM_PAGES * 10 - 1], "cut after 25 pages of 10 keys");
  await runAll(unknown.service, unknown.scheduled);
  assert.equal(unknown.jobs.job.status, "succeeded");
  assert.deepEqual(sorted(unknown.jobs.stagedLog.get(1)!), keys(400));
});

Deno.test("a job whose index holds the bucket's keys is cut at its first page into two ranges a stream, of about equal size", async () => {
  const bucketKeys = keys(400);
  const { jobs, scheduled, service } = setup(bucketKeys);
  for (const key of bucketKeys) await jobs.index.add(key);
  await service.drive(jobs.job, "head");
  const ranges = structuredClone(jobs.ranges.get(1)!);
  assert.equal(ranges.length, 2 * DEFAULTS.parallelism!, "two ranges a stream");
  // The 390 keys after the first page, in 24 ranges: 16 or 17 each (the ladder's first ranges
  // hold 10, 100 and the rest).
  const sizes = ranges.map((r) =>
    bucketKeys.filter((key) => key > r.start_after && (r.up_to === null || key <= r.up_to))
      .length
  );
  assert.ok(sizes.every((n) => n >= 15 && n <= 18), `range sizes ${sizes.join(", ")}`);
  await runAll(service, scheduled);
  assert.equal(jobs.job.status, "succeeded");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), bucketKeys, "each key staged once");
});

Deno.test("a partitioned rebuild starts no more workers than REBUILD_PARALLELISM allows", async () => {
  // Parallelism 12 at four streams an invocation: three workers at most, the head included.
  // Workers started at once each saw the others' ranges still free and started more.
  const bucketKeys = keys(400);
  const { jobs, scheduled, all, service } = setup(bucketKeys);
  for (const key of bucketKeys) await jobs.index.add(key);
  await service.drive(jobs.job, "head");
  await runAll(service, scheduled);
  assert.equal(jobs.job.status, "succeeded");
  const workers = new Set(["head", ...all.map((r) => r.worker)]);
  assert.equal(workers.size, 3, `workers: ${[...workers].join(", ")}`);
});

Deno.test("a bucket of one page is never cut into ranges", async () => {
  const { jobs, bucket, service } = setup(keys(7));
  const outcome = await service.drive(jobs.job, "head");
  assert.equal(outcome.state, "finished");
  assert.equal(bucket.listed, 1, "one listing request, no probe");
  assert.equal(jobs.job.ranges, undefined);
  assert.ok(!jobs.calls.includes("partition"));
});

Deno.test("with REBUILD_PARALLELISM=1 the rebuild stays in one stream", async () => {
  const { jobs, scheduled, service } = setup(keys(95), { ...DEFAULTS, parallelism: 1 });
  await service.drive(jobs.job, "head");
  await runAll(service, scheduled);
  assert.equal(jobs.job.status, "succeeded");
  assert.ok(!jobs.calls.includes("partition"));
  assert.deepEqual(scheduled, []);
});

Deno.test("a worker that dies mid-range is resumed from each range's committed key: nothing lost or counted twice", async () => {
  const bucketKeys = keys(400);
  const { jobs, scheduled, service } = setup(bucketKeys);
  jobs.estimate = 400; // the last rebuild listed as many: the job is cut at its first page
  await service.drive(jobs.job, "head");
  // Every scheduled worker dies before it runs; the head left its ranges half listed.
  scheduled.length = 0;
  assert.equal(jobs.job.status, "running");
  assert.ok(jobs.job.listed > 0 && jobs.job.listed < bucketKeys.length);
  jobs.expireRangeLeases();

  const resumed = await service.resume();
  assert.equal(resumed.resumed, true);
  assert.equal(scheduled[0].ranged, true, "the new worker claims ranges, not the job");
  await runAll(service, scheduled);
  assert.equal(jobs.job.status, "succeeded");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), sorted(bucketKeys));
});

/** A job cut by hand after its first page (keys k-00000..k-00009) at `boundaries`. */
async function partitioned(jobs: FakeJobs, bucketKeys: string[], boundaries: string[]) {
  await jobs.claim(1, "head", 60);
  const firstPage = bucketKeys.slice(0, 10).map((key) => ({
    key,
    size: 1,
    etag: "e",
    lastModified: new Date(0),
  }));
  await jobs.partition(1, "head", {
    previousToken: null,
    objects: firstPage,
    afterKey: bucketKeys[9],
    boundaries,
  });
}

const rangedOptions = (
  jobs: FakeJobs,
  storage: { listPage: (o: object) => Promise<ListPage> },
) => ({
  jobs,
  storage,
  jobId: 1,
  worker: "w1",
  leaseSeconds: 60,
  budget: { cpuMs: 1, wallMs: 60_000 },
  streams: 3,
  maxWorkers: 1,
  pageSize: 10,
  sleep: noSleep,
});

Deno.test("runRangedSlice() retries pages S3 throttles (503 SlowDown), halving the streams, and stays exact", async () => {
  const bucketKeys = keys(200);
  const jobs = FakeJobs.running();
  await partitioned(jobs, bucketKeys, ["k-001", "k-0015"]);
  const bucket = fakeBucket(bucketKeys);
  const slowDown = ERRORS.StorageUnavailable("Image storage is unavailable right now; try again");
  bucket.listFaults.push(slowDown, slowDown, slowDown);
  const outcome = await runRangedSlice(rangedOptions(jobs, bucket));
  assert.equal(outcome.state, "finished");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), sorted(bucketKeys));
  assert.ok(bucket.listed >= 200 / 10 + 3, "the throttled pages were asked again");
});

Deno.test("runRangedSlice() fails the job readably when S3 refuses the listing for good", async () => {
  const bucketKeys = keys(50);
  const jobs = FakeJobs.running();
  await partitioned(jobs, bucketKeys, ["k-0003"]);
  const bucket = fakeBucket(bucketKeys);
  const denied = ERRORS.Misconfigured("The bucket refused our credentials");
  bucket.listFaults.push(denied);
  const outcome = await runRangedSlice(rangedOptions(jobs, bucket));
  assert.equal(outcome.state, "failed");
  assert.match(jobs.job.error ?? "", /Listing the bucket failed .*refused our credentials/);
  assert.equal(jobs.index.rows.size, 0, "the index is untouched");
});

Deno.test("a range split while its page is in flight: the page is trimmed at the new end, no key twice", async () => {
  const bucketKeys = keys(60);
  const jobs = FakeJobs.running();
  await partitioned(jobs, bucketKeys, []);
  const bucket = fakeBucket(bucketKeys);
  let listings = 0;
  const storage = {
    async listPage(options: { startAfter?: string; maxKeys?: number }) {
      const page = await bucket.listPage(options);
      // The first page of range 1 (k-00010..k-00019) comes back after another worker split the
      // range at k-00014.
      if (++listings === 1) await jobs.splitRange(1, 1, "w2", "k-00014.jpg", 60);
      return page;
    },
  };
  const outcome = await runRangedSlice({ ...rangedOptions(jobs, storage), streams: 1 });
  assert.equal(outcome.state, "busy", "range 2 is w2's: w1 stops, w2 finishes");
  const ranges = jobs.ranges.get(1)!;
  assert.deepEqual(ranges[0].last_key, "k-00014.jpg");
  assert.equal(ranges[0].complete, true);
  jobs.expireRangeLeases();
  const rest = await runRangedSlice({ ...rangedOptions(jobs, bucket), worker: "w3" });
  assert.equal(rest.state, "finished");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), sorted(bucketKeys));
});

Deno.test("runRangedSlice() stops at its page budget holding its ranges, and its continuation goes on from them", async () => {
  const bucketKeys = keys(300);
  const jobs = FakeJobs.running();
  await partitioned(jobs, bucketKeys, ["k-001", "k-002"]);
  const bucket = fakeBucket(bucketKeys);
  const states: string[] = [];
  for (let slice = 0; slice < 40; slice++) {
    const outcome = await runRangedSlice({
      ...rangedOptions(jobs, bucket),
      budget: { cpuMs: 1, wallMs: 60_000, pages: 4 },
    });
    states.push(outcome.state);
    if (outcome.state !== "more") break;
  }
  assert.equal(states.at(-1), "finished", states.join());
  assert.ok(states.length > 5);
  assert.ok(jobs.invocations.every((i) => i.pages <= 4), "no invocation over its page budget");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), sorted(bucketKeys));
});

Deno.test("a bucket of mixed names is split where its keys are, and listed exactly", async () => {
  const bucketKeys = [
    ...Array.from({ length: 300 }, (_, i) => `rb1234-${String(i).padStart(5, "0")}.jpg`),
    ...Array.from({ length: 300 }, (_, i) => `rr5678-${String(i).padStart(5, "0")}.jpg`),
    ...Array.from({ length: 50 }, (_, i) => `safe99-${i}.jpg`),
    ...Array.from({ length: 20 }, (_, i) => `A${i}.jpg`),
    "_incoming/x.png",
  ];
  const { jobs, scheduled, service } = setup(bucketKeys);
  jobs.estimate = 10_000;
  await service.drive(jobs.job, "head");
  await runAll(service, scheduled);
  assert.equal(jobs.job.status, "succeeded");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), sorted(bucketKeys));
  const ranges = jobs.ranges.get(1)!;
  assert.ok(ranges.length >= 3, `${ranges.length} ranges`);
  assert.ok(
    ranges.some((r) => r.start_after.startsWith("r") && r.listed > 0),
    "cut inside rb…/rr…",
  );
});

Deno.test("a range of deep numbered names is split: the probes go on halving below a round that found nothing", async () => {
  // `k-00009.jpg` … `k-00299.jpg` lie far below the halfway points a first round of probes
  // tries (`s`, `o`, … `k-1`); six probes never reached them, so the range was never split.
  const bucketKeys = keys(300);
  const jobs = FakeJobs.running();
  await partitioned(jobs, bucketKeys, []);
  const bucket = fakeBucket(bucketKeys);
  const outcome = await runRangedSlice({ ...rangedOptions(jobs, bucket), streams: 2 });
  assert.equal(outcome.state, "finished");
  assert.ok(jobs.ranges.get(1)!.length > 1, `${jobs.ranges.get(1)!.length} range(s)`);
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), sorted(bucketKeys), "each key staged once");
});

Deno.test("a first rebuild cut on the ladder (no index to cut by) starts workers to split its busy ranges", async () => {
  // Product-image names: the ladder after the first page finds few cuts, no more ranges than
  // the head's own streams, so none is free when it starts; once its ranges have listed a full
  // page it starts the other workers REBUILD_PARALLELISM allows (12 at 4 streams: 3 in all),
  // which split the ranges still busy.
  const bucketKeys = sorted(Array.from({ length: 3000 }, (_, i) => `${10_000 + i * 3}.jpg`));
  const budget = { cpuMs: 1, wallMs: 60_000, pages: 60 }; // the default slice: 60 pages
  const { jobs, scheduled, all, service } = setup(bucketKeys, { ...DEFAULTS, budget });
  jobs.estimate = bucketKeys.length; // large enough to cut at the first page; the index is empty
  // As `POST /rebuild` starts it: the first slice runs in a fresh invocation (kickIfStalled's
  // self-call), whose continuations are not chain starts.
  const first = await service.continueChain({
    jobId: jobs.job.id,
    worker: "head",
    budget,
  });
  assert.notEqual(first.state, "finished");
  await runAll(service, scheduled);
  assert.equal(jobs.job.status, "succeeded");
  assert.deepEqual(sorted(jobs.stagedLog.get(1)!), bucketKeys, "each key staged once");
  const workers = new Set(["head", ...all.map((r) => r.worker)]);
  assert.equal(workers.size, 3, `workers: ${[...workers].join(", ")}`);
});
