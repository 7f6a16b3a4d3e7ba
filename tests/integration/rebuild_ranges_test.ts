/**
 * The rebuild listed in key ranges, over HTTP through the functions host, against the real
 * bucket (emulator, through the S3 fault proxy) and the real index. Each job is started by
 * service_role with small listing pages (`budget.pageSize`) and several streams
 * (`budget.parallelism`), so a few hundred objects make many pages, several ranges and several
 * workers: exactly the bucket indexed, S3 throttling retried, a killed worker's ranges resumed
 * from their committed keys, uploads and deletes during the job kept, cancel and the mass-removal
 * guard leaving the index as it was.
 *
 * Counts are checked over the whole bucket (other files' keys included) and over this file's
 * own prefix (`rr<run>-`); every wait has a deadline.
 */
import assert from "node:assert/strict";
import { samplePng } from "../../scripts/lib/png.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import {
  addS3Fault,
  clearS3ProxyFaults,
  eventually,
  heldByS3Proxy,
  s3Faults,
} from "../support/faults.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import {
  assertIndexEqualsBucket,
  bucketListing,
  deleteObjects,
  indexSnapshot,
  type Job,
  putObjects,
  service,
  sleep,
  waitForJob,
} from "./service_support.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const P = `rr${RUN}-`;
const OBJECTS = 1000;
const key = (i: number) => `${P}${String(i).padStart(5, "0")}.jpg`;
/** Small pages and eight streams: a few hundred keys make many pages and several ranges. */
const RANGED = { pageSize: 25, parallelism: 8 };
/**
 * List requests the S3 proxy lets through before it holds the rest, in the tests that act while
 * a job lists: the first page and a few of the ranges' (of 40 pages), so the job is in ranges
 * and far from done.
 */
const LISTED_BEFORE_HOLD = 8;

/**
 * Waits until the service answers (the file before may have just taken its database away and
 * back), and cancels a job a failed test of this file left running, so one failure does not
 * fail every test after it.
 */
async function quietService(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { status, body } = await service("/rebuild");
    if (status === 200) {
      const job = body.job as Job | null;
      if (job?.status === "running") await service(`/rebuild/${job.id}/cancel`, { method: "POST" });
      return;
    }
    if (Date.now() > deadline) throw new Error(`the service keeps answering ${status}`);
    await sleep(200);
  }
}

async function startRanged(budget: Record<string, unknown> = {}, force = false): Promise<Job> {
  await quietService();
  const { status, body } = await service("/rebuild", {
    body: { budget: { ...RANGED, ...budget }, ...(force ? { force } : {}) },
    token: stackInfo().SERVICE_ROLE_KEY,
  });
  assert.equal(status, 202, JSON.stringify(body));
  assert.equal(body.started, true, JSON.stringify(body));
  return body.job as Job;
}

/** The job row as Postgres has it: reading it never hands the job on. */
async function jobRow(id: number): Promise<Job> {
  const [row] =
    await testDb()`select to_jsonb(r) as job from s3_cache_rebuilds as r where id = ${id}`;
  return row.job as Job;
}

/** Waits, reading the row only, until `ready` holds; fails at the deadline. */
async function untilRow(id: number, ready: (job: Job) => boolean, label: string): Promise<Job> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = await jobRow(id);
    if (ready(job) || job.status !== "running") return job;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${label}`);
    await sleep(10);
  }
}

/** Keys staged by each range of a job, to check no key is in two ranges. */
async function rangesOf(id: number) {
  return await testDb()`
    select range, start_after, up_to, complete, listed from s3_cache_rebuild_ranges
    where job_id = ${id} order by start_after collate "C"`;
}

Deno.test({
  name: "a rebuild in several key ranges indexes exactly the bucket",
  sanitizeResources: false,
  async fn() {
    await putObjects(Array.from({ length: OBJECTS }, (_, i) => key(i)));
    const job = await waitForJob((await startRanged()).id);
    assert.equal(job.status, "succeeded", JSON.stringify(job));
    assert.ok(job.ranges && job.ranges.total > 2, `ranges: ${JSON.stringify(job.ranges)}`);
    assert.equal(job.ranges!.done, job.ranges!.total);
    const { keys } = await bucketListing();
    assert.equal(job.listed, keys, "every key listed once over all ranges");
    // The ranges tile the key space: each starts where the one before ends.
    const ranges = await rangesOf(job.id);
    for (let i = 1; i < ranges.length; i++) {
      assert.equal(ranges[i].start_after, ranges[i - 1].up_to, JSON.stringify(ranges));
    }
    assert.equal(ranges.at(-1)!.up_to, null);
    // The finishing invocation records itself just after the finish commits: wait for it.
    const recorded = await eventually(
      "several invocations are recorded",
      async () => (await jobRow(job.id)).invocations.length > 1,
      10_000,
    ).catch(() => false);
    assert.ok(recorded, `several invocations listed it: ${JSON.stringify(await jobRow(job.id))}`);
    await assertIndexEqualsBucket();
    assert.equal((await assertIndexEqualsBucket(P)).size, OBJECTS);
    await closeTestDb();
  },
});

Deno.test({
  name: "ranges that meet 503 SlowDown are retried and the result is still exact",
  sanitizeResources: false,
  async fn() {
    const added = Array.from({ length: 40 }, (_, i) => key(OBJECTS + i));
    await putObjects(added);
    try {
      await addS3Fault({
        operation: "list",
        status: 503,
        code: "SlowDown",
        after: 2,
        remaining: 6,
      });
      const job = await waitForJob((await startRanged()).id);
      assert.equal(job.status, "succeeded", JSON.stringify(job));
      const [rule] = await s3Faults();
      assert.equal(rule.remaining, 0, "every SlowDown answer was met");
      // The index is in step with the bucket now, so its keys told where to cut: at the first
      // page, two ranges a stream (16), of about equal size, instead of the ladder's growing ones.
      assert.ok(job.ranges && job.ranges.total >= 16, JSON.stringify(job.ranges));
      const listed = (await rangesOf(job.id)).map((r) => Number(r.listed));
      const fair = listed.reduce((a, b) => a + b, 0) / 16;
      assert.ok(Math.max(...listed) <= 2 * fair, `keys per range: ${listed.join(", ")}`);
      assert.equal(job.inserted, added.length);
      assert.equal(job.removed, 0);
      const { keys } = await bucketListing();
      assert.equal(job.listed, keys);
      await assertIndexEqualsBucket();
    } finally {
      await clearS3ProxyFaults();
      await closeTestDb();
    }
  },
});

Deno.test({
  name:
    "a worker killed mid-range is resumed from its ranges' committed keys: no key lost or counted twice",
  sanitizeResources: false,
  async fn() {
    const added = Array.from({ length: 12 }, (_, i) => key(OBJECTS + 100 + i));
    const deleted = Array.from({ length: 9 }, (_, i) => key(5 + i * 31));
    await putObjects(added);
    await deleteObjects(deleted);
    const job = await startRanged({ cpuMs: 150, wallMs: 50 });
    const before = await untilRow(
      job.id,
      (j) => !!j.ranges && j.ranges.done > 0 && j.ranges.done < j.ranges.total,
      "some ranges are listed and some are not",
    );
    assert.equal(before.status, "running", "the job must still run when it is killed");
    const kill = await fetch(`${stackInfo().API_URL}/_host/functions/s3-image-service/kill`, {
      method: "POST",
      headers: { authorization: `Bearer ${stackInfo().SERVICE_ROLE_KEY}` },
    });
    assert.equal(kill.status, 200, await kill.text());

    // Nobody calls the service now: the stack's scheduler resumes the job once its leases end.
    const done = await untilRow(job.id, () => false, "the job ends");
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    assert.deepEqual(
      { inserted: done.inserted, removed: done.removed, updated: done.updated },
      { inserted: added.length, removed: deleted.length, updated: 0 },
    );
    const { keys } = await bucketListing();
    assert.equal(done.listed, keys, "every key listed exactly once across the kill");
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});

/**
 * No listing left over from an earlier job (a worker still splitting or handing off after the
 * job ended) can use up the S3 proxy's `after` count: the service's worker is replaced, and the
 * proxy's rules cleared.
 */
async function withoutStrayListings(): Promise<void> {
  await quietService();
  const kill = await fetch(`${stackInfo().API_URL}/_host/functions/s3-image-service/kill`, {
    method: "POST",
    headers: { authorization: `Bearer ${stackInfo().SERVICE_ROLE_KEY}` },
  });
  assert.equal(kill.status, 200, await kill.text());
  await clearS3ProxyFaults();
}

/** A multipart upload as the admin UI sends it, as the manager. */
function upload(bytes: Uint8Array, filename: string) {
  const form = new FormData();
  form.set("file", new File([bytes as Uint8Array<ArrayBuffer>], filename));
  form.set("filename", filename);
  return callFunction("upload-to-s3", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    body: form,
  });
}

Deno.test({
  name: "uploads and deletes during a rebuild in ranges survive it",
  sanitizeResources: false,
  async fn() {
    // The listing waits at S3 after its first 8 requests (the proxy holds the rest) while the
    // writes land, so they land during the job however fast it lists; each stream then goes on
    // from where it was. Set before the job starts: a job started first could end before it.
    await withoutStrayListings();
    await addS3Fault({
      operation: "list",
      hold: true,
      after: LISTED_BEFORE_HOLD,
      remaining: 100_000,
    });
    // An upload of a name the listing may or may not reach, and deletes of names listed early
    // and late, all while the ranges are listed.
    const uploaded = `${P}00001-new.png`;
    const uploadedLate = `${P}99999-new.png`;
    const removed = [key(2), key(OBJECTS - 3)];
    let job: Job | undefined;
    try {
      job = await startRanged({ cpuMs: 150, wallMs: 50 });
      await untilRow(job.id, (j) => !!j.ranges, "the job lists in ranges");
      await heldByS3Proxy();
      for (const name of [uploaded, uploadedLate]) {
        const { status, body } = await upload(samplePng(7, 20, 20), name);
        assert.equal(status, 201, JSON.stringify(body));
      }
      for (const name of removed) {
        const gone = await service(`/files/${encodeURIComponent(name)}?deleteObject=true`, {
          method: "DELETE",
        });
        assert.equal(gone.status, 200, JSON.stringify(gone.body));
      }
      assert.equal((await jobRow(job.id)).status, "running", "the writes landed during the job");
    } finally {
      await clearS3ProxyFaults(); // no more holds; the held requests go on
      if (job) await waitForJob(job.id); // the next test starts a job of its own
    }
    const done = await waitForJob(job.id);
    assert.equal(done.status, "succeeded", JSON.stringify(done));
    const index = new Set(
      (await testDb()`select filename from public.s3_image_cache`).map((r) => r.filename as string),
    );
    assert.ok(index.has(uploaded) && index.has(uploadedLate), "the uploads are indexed");
    for (const name of removed) assert.ok(!index.has(name), `${name} stayed removed`);
    // Names only: an upload records its PUT's Date header as the time, which S3's listing may
    // put a second later, and a row written during a job is kept as written (the upload wins).
    const { images } = await bucketListing(P);
    assert.deepEqual(
      [...index].filter((name) => name.startsWith(P)).sort(),
      [...images.keys()].sort(),
      "the index holds exactly the bucket's images",
    );
    await closeTestDb();
  },
});

Deno.test({
  name: "cancelling a rebuild in ranges leaves the index exactly as it was",
  sanitizeResources: false,
  async fn() {
    await deleteObjects([key(10), key(11)]); // a finish would remove these two rows
    const before = await indexSnapshot();
    // Cancelled while its listing waits at S3 (held after its first 8 requests, set before the
    // job starts), so however fast it lists it is mid-job.
    await withoutStrayListings();
    await addS3Fault({
      operation: "list",
      hold: true,
      after: LISTED_BEFORE_HOLD,
      remaining: 100_000,
    });
    let job: Job;
    let cancelled;
    try {
      job = await startRanged({ cpuMs: 150, wallMs: 50 });
      await untilRow(job.id, (j) => !!j.ranges, "the job lists in ranges");
      await heldByS3Proxy();
      cancelled = await service(`/rebuild/${job.id}/cancel`, { method: "POST" });
    } finally {
      await clearS3ProxyFaults(); // the held requests go on, into a job that has ended
    }
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal((cancelled.body.job as Job).status, "cancelled");
    // Workers still in flight find the job ended: nothing they do from here on is staged.
    assert.deepEqual(await indexSnapshot(), before, "the index is exactly as it was");
    const [{ staged }] = await testDb()`
      select count(*)::int as staged from s3_cache_rebuild_pages where job_id = ${job.id}`;
    assert.equal(staged, 0, "no page of the cancelled job is kept");
    assert.equal((await jobRow(job.id)).status, "cancelled");
    await closeTestDb();
  },
});

Deno.test({
  name: "the mass-removal guard holds a rebuild in ranges that would empty most of the index",
  sanitizeResources: false,
  async fn() {
    // Bring the index in step, then add more ghost rows (not in the bucket) than it holds.
    const settled = await waitForJob((await startRanged()).id);
    assert.equal(settled.status, "succeeded", JSON.stringify(settled));
    const [{ count }] = await testDb()`select count(*)::int as count from public.s3_image_cache`;
    const ghosts = Array.from({ length: count + 1 }, (_, i) => `${P}ghost-${i}.jpg`);
    await testDb()`select public.add_files_to_s3_cache(${ghosts}::text[])`;
    const before = await indexSnapshot();

    const held = await waitForJob((await startRanged()).id);
    assert.equal(held.status, "needs_confirmation", JSON.stringify(held));
    assert.ok(held.ranges && held.ranges.total > 1, "it was listed in ranges");
    assert.equal(held.summary?.guard?.would_remove, ghosts.length);
    assert.deepEqual(await indexSnapshot(), before, "nothing changed");

    const forced = await waitForJob((await startRanged({}, true)).id);
    assert.equal(forced.status, "succeeded", JSON.stringify(forced));
    assert.equal(forced.removed, ghosts.length);
    await assertIndexEqualsBucket();
    await closeTestDb();
  },
});
