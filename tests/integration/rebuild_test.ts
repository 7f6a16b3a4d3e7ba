/**
 * The rebuild over HTTP through the functions host, against the real bucket (emulator) and the
 * real index (Postgres). The bucket is filled out of band (PutObject straight to S3), 5,000+
 * objects, and the tests run in order, each starting from the index in step with the bucket the
 * previous one left: exact deltas, never-fewer rows for readers, writes during a job kept, one
 * job for two starts, a killed worker resumed, cancel, S3 faults, per-invocation budgets.
 *
 * Exact counts are taken over this file's own prefix (`rb<run>-`), so they hold whatever earlier
 * test files left in the bucket; every wait has a deadline, so a stuck job fails instead of
 * hanging CI. The bucket side is listed with an independent S3 client (`tests/support/bucket.ts`).
 */
import assert from "node:assert/strict";
import type { Invocation } from "../../supabase/functions/s3-image-service/jobs/job_store.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { addS3Fault, clearS3ProxyFaults, s3Faults } from "../support/faults.ts";
import { stackInfo } from "../support/stack.ts";
import {
  assertIndexEqualsBucket,
  bucketListing,
  deleteObjects,
  indexSnapshot,
  type Job,
  putObjects,
  rebuildToEnd,
  service,
  sleep,
  waitForJob,
} from "./service_support.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const P = `rb${RUN}-`;
const OBJECTS = 5_000;
const key = (i: number) => `${P}${String(i).padStart(5, "0")}.jpg`;
const BASE_KEYS = Array.from({ length: OBJECTS }, (_, i) => key(i));
/** A budget small enough that a 5,000-object job takes several invocations. */
// 50 ms of wall clock is less than one listing page takes, so every invocation does exactly one
// page (the first page of an invocation always runs) and a 5,000-object job needs several.
const SMALL_BUDGET = { cpuMs: 150, wallMs: 50 };

const serviceKey = () => stackInfo().SERVICE_ROLE_KEY;

async function startSmallRebuild(): Promise<Job> {
  const { status, body } = await service("/rebuild", {
    body: { budget: SMALL_BUDGET },
    token: serviceKey(),
  });
  assert.equal(status, 202, JSON.stringify(body));
  assert.equal(body.started, true, JSON.stringify(body));
  return body.job as Job;
}

Deno.test({
  name: "a bucket filled out of band is indexed exactly; refused keys are counted as skipped",
  sanitizeResources: false,
  async fn() {
    await putObjects([
      ...BASE_KEYS,
      `${P}folder/a.jpg`,
      `${P}notes.txt`,
      `_incoming/${P}staged.png`,
    ]);
    // The seed's call: a bare POST that answers with the count of files cached.
    const { status, body } = await service("/", { body: {} });
    assert.ok(status === 200 || status === 202, JSON.stringify(body));
    const job = status === 200 ? body.job as Job : await waitForJob((body.job as Job).id);
    assert.equal(job.status, "succeeded", JSON.stringify(job));

    const images = await assertIndexEqualsBucket();
    const { refused, keys } = await bucketListing();
    assert.equal(job.listed, keys);
    assert.equal(job.skipped, refused.length);
    // Our own keys, counted exactly: 5,000 images indexed, two refused keys named as skipped.
    const own = await assertIndexEqualsBucket(P);
    assert.equal(own.size, OBJECTS);
    const ownListing = await bucketListing(P);
    assert.equal(ownListing.keys, OBJECTS + 2);
    assert.deepEqual(ownListing.refused.map(({ key }) => key), [
      `${P}folder/a.jpg`,
      `${P}notes.txt`,
    ]);
    // Staging keys (uploads not yet confirmed) are counted but never shown.
    assert.equal((await bucketListing(`_incoming/${P}`)).refused.length, 1, "a staging key");
    const shown = refused.filter(({ key }) => !key.startsWith("_incoming/"));
    assert.deepEqual(job.summary?.skipped_samples, shown.slice(0, 20));
    assert.ok(
      !job.summary?.skipped_samples?.some(({ key }) => key.startsWith("_incoming/")),
      "no staging key among the samples",
    );
    if (status === 200) {
      assert.equal(body.success, true);
      assert.equal(body.count, images.size);
    }
    assert.ok(job.duration_ms > 0);
    assert.ok(job.invocations.length >= 1);
    await closeTestDb();
  },
});

Deno.test({
  name:
    "the budget decides where an invocation stops (one page each when tiny, all in one by default) and each records the clocks it read",
  sanitizeResources: false,
  async fn() {
    const pagesRecorded = (job: Job) =>
      (job.invocations as Invocation[]).reduce((n, i) => n + i.pages, 0);
    // The last invocation records its cost just after finish commits: wait until it has.
    const settled = (job: Job) => waitForJob(job.id, (j) => pagesRecorded(j) === j.pages, 10_000);

    // A listing page takes far longer than 50 ms of wall clock, so after its first page every
    // invocation must find no room for another and hand on: exactly one page each. A budget
    // check that never stops would run the job in one invocation and fail here.
    // In one listing stream (parallelism 1): what a budget does to one stream is the subject
    // here; key ranges spread pages over invocations by design (rebuild_ranges_test.ts).
    const tiny = await settled(await rebuildToEnd({ ...SMALL_BUDGET, parallelism: 1 }));
    const tinyRuns = tiny.invocations as Invocation[];
    assert.deepEqual(tiny.summary?.budget, { cpu_ms: 150, wall_ms: 50, parallelism: 1 });
    assert.ok(tiny.pages >= 6, `5,000+ keys are 6+ pages: ${tiny.pages}`);
    assert.deepEqual(
      tinyRuns.map((i) => i.pages),
      Array(tiny.pages).fill(1),
      "one page per invocation",
    );
    assert.equal(tinyRuns.reduce((n, i) => n + i.keys, 0), tiny.listed);
    for (const invocation of tinyRuns) {
      // The test stack runs with REBUILD_BUDGET_CLOCKS=wall,work, as hosted must: the job says
      // CPU time was not read, rather than reporting it as zero.
      assert.deepEqual(invocation.clocks, ["wall", "work"], JSON.stringify(invocation));
      assert.equal(invocation.cpu_ms, null, JSON.stringify(invocation));
      assert.ok(invocation.wall_ms > 0, JSON.stringify(invocation));
    }

    // The configured budget (60 s, 1,200 ms CPU) holds the same listing in one invocation: a
    // budget check that always stops after one page would fail here.
    const roomy = await settled(await rebuildToEnd({ parallelism: 1 }));
    const roomyRuns = roomy.invocations as Invocation[];
    assert.equal(roomy.pages, tiny.pages);
    assert.deepEqual(roomyRuns.map((i) => i.pages), [roomy.pages], "all pages in one invocation");
    assert.equal(roomyRuns[0].keys, roomy.listed);
    assert.ok(roomyRuns[0].wall_ms <= 60_000 && roomyRuns[0].cpu_ms === null);

    assert.equal(tiny.inserted + tiny.updated + tiny.removed, 0, "nothing changed since the last");
    assert.equal(roomy.inserted + roomy.updated + roomy.removed, 0);
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});

Deno.test({
  name: "a rebuild applies exactly the objects added, replaced and deleted since the last one",
  sanitizeResources: false,
  async fn() {
    const added = Array.from({ length: 7 }, (_, i) => key(OBJECTS + i));
    const deleted = [key(10), key(2_500), key(4_999), key(1), key(3_333)];
    const replaced = [key(20), key(2_000), key(4_000)];
    await putObjects(added);
    await deleteObjects(deleted);
    await sleep(1_100); // S3's Last-Modified has one-second precision
    await putObjects(replaced, 1);
    const job = await rebuildToEnd();
    assert.deepEqual(
      { inserted: job.inserted, updated: job.updated, removed: job.removed },
      { inserted: 7, updated: 3, removed: 5 },
    );
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});

Deno.test({
  name: "while a rebuild of 5,000+ objects runs, a reader never sees fewer rows than before",
  sanitizeResources: false,
  async fn() {
    const added = Array.from({ length: 20 }, (_, i) => key(OBJECTS + 100 + i));
    await putObjects(added);
    const reader = testDb();
    const count = async () => Number((await reader`select count(*) from s3_image_cache`)[0].count);
    const ownCount = async () =>
      Number(
        (await reader`select count(*) from s3_image_cache where starts_with(filename, ${P})`)[0]
          .count,
      );
    const before = await count();
    const ownBefore = await ownCount();
    const job = await startSmallRebuild();
    let least = Infinity;
    let reads = 0;
    let status = "running";
    const deadline = Date.now() + 90_000;
    while (status === "running") {
      assert.ok(Date.now() < deadline, `job ${job.id} still running after 90 s`);
      least = Math.min(least, await count());
      reads++;
      if (reads % 10 === 0) {
        status = ((await service(`/rebuild/${job.id}`)).body.job as Job).status;
      }
    }
    assert.equal(status, "succeeded");
    assert.ok(reads > 20, `the reader polled ${reads} times`);
    assert.ok(least >= before, `a reader saw ${least} rows, fewer than ${before}`);
    assert.equal(await ownCount(), ownBefore + added.length);
    await closeTestDb();
  },
});

Deno.test({
  name: "an index add made during a rebuild survives it, though the listing never saw it",
  sanitizeResources: false,
  async fn() {
    const job = await startSmallRebuild();
    await waitForJob(job.id, (j) => j.pages >= 1 || j.status !== "running");
    // "!" sorts before every other key: the listing has already passed it.
    const late = `!late-${RUN}.jpg`;
    await putObjects([late]);
    const { status, body } = await service("/files", { body: { filename: late } });
    assert.equal(status, 200, JSON.stringify(body));
    // The add has committed; the job must not have ended yet, or this proves nothing.
    const during = (await service(`/rebuild/${job.id}`)).body.job as Job;
    assert.equal(during.status, "running", "the add landed while the job was still running");
    const done = await waitForJob(job.id);
    assert.equal(done.status, "succeeded");
    const [row] = await testDb()`
      select filename, updated_at from s3_image_cache where filename = ${late}`;
    assert.equal(row?.filename, late, "the row written during the job was kept");
    const written = (row.updated_at as Date).getTime();
    assert.ok(
      written > new Date(done.started_at).getTime() &&
        written < new Date(done.finished_at!).getTime(),
      "the row was written between the job's start and its finish",
    );
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});

Deno.test({
  name: "two concurrent starts yield one job",
  sanitizeResources: false,
  async fn() {
    const [a, b] = await Promise.all([
      service("/rebuild", { body: {} }),
      service("/rebuild", { body: {} }),
    ]);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    const jobA = a.body.job as Job;
    const jobB = b.body.job as Job;
    assert.equal(jobA.id, jobB.id);
    assert.deepEqual([a.body.started, b.body.started].sort(), [false, true]);
    const loser = a.body.started ? b.body : a.body;
    assert.match(String(loser.message), new RegExp(`Rebuild ${jobA.id} is already running`));
    assert.equal((await waitForJob(jobA.id)).status, "succeeded");
    const [{ running }] = await testDb()`
      select count(*)::int as running from s3_cache_rebuilds where status = 'running'`;
    assert.equal(running, 0);
    await closeTestDb();
  },
});

Deno.test({
  name: "a job whose function is killed mid-way resumes after its lease and finishes right",
  sanitizeResources: false,
  async fn() {
    const added = Array.from({ length: 10 }, (_, i) => key(OBJECTS + 200 + i));
    const deleted = Array.from({ length: 10 }, (_, i) => key(100 + i * 7));
    await putObjects(added);
    await deleteObjects(deleted);
    const job = await startSmallRebuild();
    const before = await waitForJob(
      job.id,
      (j) => (j.pages >= 2 && !j.listing_complete) || j.status !== "running",
    );
    assert.equal(before.status, "running", "the job must still run when it is killed");
    await killServiceWorker();

    const done = await waitForJob(job.id);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.deepEqual(
      { inserted: done.inserted, removed: done.removed, updated: done.updated },
      { inserted: 10, removed: 10, updated: 0 },
    );
    const { keys } = await bucketListing();
    assert.equal(done.listed, keys, "every key listed exactly once across the restart");
    // One stream: one page per 1,000 keys. In ranges, each range adds at most its last, partial
    // page; a page staged twice would show in `listed` above.
    assert.ok(
      done.pages <= Math.ceil(keys / 1000) + (done.ranges?.total ?? 0),
      `${done.pages} pages for ${keys} keys in ${done.ranges?.total ?? 1} range(s)`,
    );
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});

/** Kills the s3-image-service worker mid-flight, as a crashed isolate (the local host's hook). */
async function killServiceWorker(): Promise<void> {
  const info = stackInfo();
  const kill = await fetch(`${info.API_URL}/_host/functions/s3-image-service/kill`, {
    method: "POST",
    headers: { authorization: `Bearer ${info.SERVICE_ROLE_KEY}` },
  });
  assert.equal(kill.status, 200, await kill.text());
}

/** The job's row read straight from Postgres: unlike a status call, it never resumes the job. */
async function jobRow(id: number): Promise<Job> {
  const [row] =
    await testDb()`select to_jsonb(r) as job from s3_cache_rebuilds as r where id = ${id}`;
  return row.job as Job;
}

Deno.test({
  name: "a job whose worker is killed finishes with no client call: the scheduler resumes it",
  sanitizeResources: false,
  async fn() {
    const added = Array.from({ length: 6 }, (_, i) => key(OBJECTS + 250 + i));
    const deleted = Array.from({ length: 4 }, (_, i) => key(300 + i * 11));
    await putObjects(added);
    await deleteObjects(deleted);
    const job = await startSmallRebuild();
    // From here on nobody calls the service: progress is watched in the database only.
    let before = await jobRow(job.id);
    while (before.status === "running" && (before.pages < 2 || before.listing_complete)) {
      await sleep(20);
      before = await jobRow(job.id);
    }
    assert.equal(before.status, "running", "the job must still run when it is killed");
    await killServiceWorker();

    // The test stack's scheduler calls every 2 s and the lease is 3 s; hosted: every minute.
    const deadline = Date.now() + 60_000;
    let done = await jobRow(job.id);
    while (done.status === "running" && Date.now() < deadline) {
      await sleep(200);
      done = await jobRow(job.id);
    }
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.deepEqual(
      { inserted: done.inserted, removed: done.removed, updated: done.updated },
      { inserted: 6, removed: 4, updated: 0 },
    );
    const { keys } = await bucketListing();
    assert.equal(done.listed, keys, "every key listed exactly once across the restart");
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});

Deno.test({
  name: "cancel stops a rebuild and leaves the table exactly as it was",
  sanitizeResources: false,
  async fn() {
    await putObjects(Array.from({ length: 10 }, (_, i) => key(OBJECTS + 300 + i)));
    await deleteObjects([key(200), key(201), key(202)]);
    const before = await indexSnapshot();
    const job = await startSmallRebuild();
    await waitForJob(job.id, (j) => j.pages >= 1 || j.status !== "running");
    const { status, body } = await service(`/rebuild/${job.id}/cancel`, { body: {} });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal((body.job as Job).status, "cancelled");
    await sleep(1_500); // a slice in flight notices at its next page and stops
    assert.deepEqual(await indexSnapshot(), before);
    const [{ staged }] = await testDb()`
      select count(*)::int as staged from s3_cache_rebuild_pages where job_id = ${job.id}`;
    assert.equal(staged, 0);
    const again = await service(`/rebuild/${job.id}/cancel`, { body: {} });
    assert.equal(again.status, 409);
    // Back in step for the next test.
    const synced = await rebuildToEnd();
    assert.deepEqual([synced.inserted, synced.removed], [10, 3]);
    await closeTestDb();
  },
});

Deno.test({
  name: "S3 faults mid-listing (503 SlowDown, a reset connection) are retried and the job succeeds",
  sanitizeResources: false,
  async fn() {
    await putObjects([key(OBJECTS + 400)]);
    // Armed before the job starts: the first page lists cleanly, then the second page's request
    // meets two 503 SlowDown answers and a reset connection before it succeeds. The rules sit
    // in the functions' S3 proxy, so only the worker's listings count toward them.
    try {
      await addS3Fault({
        operation: "list",
        status: 503,
        code: "SlowDown",
        remaining: 2,
        after: 1,
      });
      await addS3Fault({ operation: "list", reset: true, remaining: 1, after: 1 });
      const job = await startSmallRebuild();
      const done = await waitForJob(job.id);
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      const met = (await s3Faults()).map(({ hits, remaining }) => ({ hits, remaining }));
      assert.deepEqual(met, [{ hits: 2, remaining: 0 }, { hits: 1, remaining: 0 }]);
      assert.equal(done.inserted, 1);
    } finally {
      await clearS3ProxyFaults();
    }
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});

Deno.test({
  name: "S3 failing past the retries fails the job readably and leaves the index untouched",
  sanitizeResources: false,
  async fn() {
    await putObjects([key(OBJECTS + 500)]);
    const before = await indexSnapshot();
    await addS3Fault({ operation: "list", status: 500, code: "InternalError", remaining: 1000 });
    try {
      const { status, body } = await service("/", { body: {} });
      assert.equal(status, 502, JSON.stringify(body));
      const error = body.error as { code: string; message: string; details: { job: Job } };
      assert.equal(error.code, "rebuild_failed");
      assert.match(error.message, /^Listing the bucket failed after 0 page\(s\) \(0 keys\): /);
      assert.equal(error.details.job.status, "failed");
    } finally {
      await clearS3ProxyFaults();
    }
    assert.deepEqual(await indexSnapshot(), before);
    const synced = await rebuildToEnd();
    assert.equal(synced.inserted, 1);
    await closeTestDb();
  },
});
