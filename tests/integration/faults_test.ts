/**
 * What users see when S3 or Postgres misbehaves under the functions, with the stack's fault
 * proxies between the functions and the real services (tests/support/faults.ts). Our own checks
 * go straight to the emulator (tests/support/bucket.ts: a plain `@aws-sdk/client-s3` client, not
 * the functions' storage module) and to Postgres.
 *
 * Runs in any order with the other files: each test gives the functions their database and a
 * clean S3 path back and cancels a job it left running, whatever happened (`restore`); the file
 * removes its objects and their index rows at the end, so the bucket and the index are in step
 * as it found them.
 */
import assert from "node:assert/strict";
import { samplePng } from "../../scripts/lib/png.ts";
import { listBucket } from "../support/bucket.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import {
  addS3Fault,
  clearS3ProxyFaults,
  databaseComesBack,
  databaseGoesAway,
  eventually,
  functionLogMatches,
  heldByS3Proxy,
  releaseS3,
  restoreFaultProxies,
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
  rebuildToEnd,
  service,
  waitForJob,
} from "./service_support.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const P = `ft${RUN}-`;
/** Enough of our own keys for three listing pages, whatever else the bucket holds. */
const OBJECTS = 2_500;
const key = (i: number) => `${P}${String(i).padStart(5, "0")}.jpg`;

/** The object's size and ETag (without quotes), or null when the bucket has no such key. */
async function headDirect(name: string): Promise<{ size: number; etag: string } | null> {
  const object = (await listBucket(name)).find((listed) => listed.key === name);
  return object ? { size: object.size, etag: object.etag.replaceAll('"', "") } : null;
}

async function indexRow(filename: string) {
  const [row] = await testDb()`
    select filename, size_bytes::int as size, etag from public.s3_image_cache
    where filename = ${filename}`;
  return row as { filename: string; size: number; etag: string } | undefined;
}

/** The job row as Postgres has it (read directly, so it works while the functions cannot). */
async function jobRow(id: number) {
  const [row] = await testDb()`
    select status, pages, listing_complete from public.s3_cache_rebuilds where id = ${id}`;
  return row as { status: string; pages: number; listing_complete: boolean };
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

/** Jobs this file started, so a test that fails half-way leaves none running. */
const started: number[] = [];

async function startRebuild(): Promise<Job> {
  const { status, body } = await service("/rebuild", {
    body: {},
    token: stackInfo().SERVICE_ROLE_KEY,
  });
  assert.equal(status, 202, JSON.stringify(body));
  assert.equal(body.started, true, JSON.stringify(body));
  const job = body.job as Job;
  started.push(job.id);
  return job;
}

/**
 * Whatever a test did: the functions get their database and a clean S3 path back, and a job it
 * left running is cancelled (another file's rebuild would otherwise meet `rebuild_running`).
 */
async function restore(): Promise<void> {
  await restoreFaultProxies();
  for (const id of started.splice(0)) {
    if ((await jobRow(id)).status !== "running") continue;
    const { status, body } = await service(`/rebuild/${id}/cancel`, { body: {} });
    assert.ok(status === 200 || status === 409, JSON.stringify(body)); // 409: it just ended
  }
  await closeTestDb();
}

Deno.test.afterAll(async () => {
  const ours = (await listBucket(P)).map((object) => object.key);
  await deleteObjects(ours);
  await testDb()`delete from public.s3_image_cache where starts_with(filename, ${P})`;
  await closeTestDb();
});

Deno.test({
  name:
    "faults: a rebuild whose listing meets 503 SlowDown and a reset on some pages indexes the bucket exactly",
  sanitizeResources: false,
  async fn() {
    try {
      await rebuildToEnd(); // in step with whatever earlier files left in the bucket
      await putObjects(Array.from({ length: OBJECTS }, (_, i) => key(i)));
      // Page 1 lists cleanly; page 2 meets two 503 SlowDown answers; page 3 a dropped
      // connection. The SDK's retries must carry every page through.
      await addS3Fault({
        operation: "list",
        status: 503,
        code: "SlowDown",
        after: 1,
        remaining: 2,
      });
      await addS3Fault({ operation: "list", reset: true, after: 2, remaining: 1 });
      const job = await startRebuild();
      const done = await waitForJob(job.id);
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      const met = (await s3Faults()).map(({ hits, remaining }) => ({ hits, remaining }));
      assert.deepEqual(met, [{ hits: 2, remaining: 0 }, { hits: 1, remaining: 0 }]);
      assert.equal(done.inserted, OBJECTS);
      assert.equal(done.removed, 0);

      await assertIndexEqualsBucket();
      const bucket = await bucketListing();
      assert.equal([...bucket.images.keys()].filter((name) => name.startsWith(P)).length, OBJECTS);
      assert.equal(done.listed, bucket.keys, "every key listed exactly once");
    } finally {
      await restore();
    }
  },
});

Deno.test({
  name:
    "faults: the database going away mid-rebuild pauses the job with the index untouched; it resumes and succeeds once the database is back",
  sanitizeResources: false,
  async fn() {
    try {
      // Two listing pages at least, also when this test runs alone, and the index in step.
      const { keys } = await bucketListing();
      if (keys <= 1000) {
        await putObjects(Array.from({ length: 1001 - keys }, (_, i) => key(OBJECTS + 100 + i)));
      }
      await rebuildToEnd();
      const added = Array.from({ length: 30 }, (_, i) => key(OBJECTS + i));
      await putObjects(added);
      const before = await indexSnapshot();
      // Hold the second listing page at the proxy, so the database goes away with the job
      // provably in the middle: page 1 staged, page 2 on its way.
      await addS3Fault({ operation: "list", hold: true, after: 1, remaining: 1 });
      const job = await startRebuild();
      await heldByS3Proxy(0);
      await eventually("page 1 is staged", async () => (await jobRow(job.id)).pages >= 1);
      await databaseGoesAway();
      await releaseS3();

      // The worker retries, then gives up for now (it says so in its log): the job stays
      // running and nothing is applied. A job that ended instead fails the assertion below.
      await eventually(
        "the worker paused the job, or the job ended",
        async () =>
          (await jobRow(job.id)).status !== "running" ||
          await functionLogMatches("s3-image-service", new RegExp(`Rebuild ${job.id} paused`)),
      );
      const paused = await jobRow(job.id);
      assert.deepEqual(paused, { status: "running", pages: 1, listing_complete: false });
      assert.deepEqual(await indexSnapshot(), before, "the live index is untouched");
      const asked = await service(`/rebuild/${job.id}`);
      assert.equal(asked.status, 503, JSON.stringify(asked.body));
      assert.equal((asked.body.error as { code: string }).code, "database_unavailable");
      assert.deepEqual(await indexSnapshot(), before, "still untouched after a status call");

      await databaseComesBack();
      // Status calls pick the job up again once the paused worker's lease has run out.
      const done = await waitForJob(job.id);
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      assert.deepEqual([done.inserted, done.removed], [added.length, 0]);
      await assertIndexEqualsBucket();
      assert.equal(
        done.listed,
        (await bucketListing()).keys,
        "no page lost or listed twice across the pause",
      );
    } finally {
      await restore();
    }
  },
});

Deno.test({
  name:
    "faults: an upload whose S3 write keeps failing answers 503 storage_unavailable and leaves no object and no index row",
  sanitizeResources: false,
  async fn() {
    const name = `${P}s3-down.png`;
    const png = samplePng(41, 40, 30);
    try {
      await addS3Fault({ operation: "put", keyPrefix: name, status: 503, remaining: 50 });
      const { status, body } = await upload(png, name);
      assert.equal(status, 503, JSON.stringify(body));
      assert.equal((body.error as { code: string }).code, "storage_unavailable");
      assert.ok((await s3Faults())[0].hits >= 1, "the write met the fault");
      assert.equal(await headDirect(name), null, "no object");
      assert.equal(await indexRow(name), undefined, "no index row");

      // Once S3 recovers, the same upload goes through.
      await clearS3ProxyFaults();
      const again = await upload(png, name);
      assert.equal(again.status, 201, JSON.stringify(again.body));
      assert.equal((await indexRow(name))?.etag, (await headDirect(name))?.etag);
    } finally {
      await restore();
    }
  },
});

/**
 * Uploads `name` with the database going away while its S3 write is in flight: the write
 * lands, the index write cannot. Asserts the documented 503 and the state it leaves.
 */
async function uploadWhileTheDatabaseGoesAway(name: string, png: Uint8Array) {
  await addS3Fault({ operation: "put", keyPrefix: name, hold: true, remaining: 1 });
  const answer = upload(png, name);
  await heldByS3Proxy(0);
  await databaseGoesAway();
  await releaseS3();
  const { status, body } = await answer;
  assert.equal(status, 503, JSON.stringify(body));
  const error = body.error as { code: string; message: string };
  assert.equal(error.code, "stored_not_indexed");
  assert.match(error.message, new RegExp(`stored in the bucket as "${name}" but not yet in`));
  const stored = await headDirect(name);
  assert.equal(stored?.size, png.length, "the image is in the bucket");
  assert.equal(await indexRow(name), undefined, "but not in the index");
  await databaseComesBack();
  return stored!;
}

Deno.test({
  name:
    "faults: an upload whose index write fails answers 503 stored_not_indexed; retrying the same upload completes it",
  sanitizeResources: false,
  async fn() {
    const name = `${P}db-down-retry.png`;
    const png = samplePng(42, 40, 30);
    try {
      const stored = await uploadWhileTheDatabaseGoesAway(name, png);
      const again = await upload(png, name);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.unchanged, true, "the bytes were already stored");
      assert.equal(again.body.indexed, true);
      assert.deepEqual(await indexRow(name), { filename: name, ...stored });
    } finally {
      await restore();
    }
  },
});

Deno.test({
  name: "faults: an upload whose index write fails is repaired by the next rebuild",
  sanitizeResources: false,
  async fn() {
    const name = `${P}db-down-rebuild.png`;
    const png = samplePng(43, 40, 30);
    try {
      const stored = await uploadWhileTheDatabaseGoesAway(name, png);
      const job = await rebuildToEnd();
      assert.equal(job.inserted, 1, JSON.stringify(job));
      assert.deepEqual(await indexRow(name), { filename: name, ...stored });
      await assertIndexEqualsBucket();
    } finally {
      await restore();
    }
  },
});
