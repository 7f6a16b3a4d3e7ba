/**
 * What no operator mistake may do to the index, over HTTP against the real stack: re-running a
 * migration file then rebuilding keeps every row (the way an index was once emptied); a rebuild
 * or reconcile that would remove more than half of the index is held as `needs_confirmation`
 * until an admin repeats it with `force: true`; a file removed while a rebuild runs stays removed.
 *
 * "Ghost" rows (index entries whose objects are not in the bucket, as after a wrong `S3_BUCKET`)
 * are added through the SQL API, so the index outnumbers what the listing finds.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../../scripts/stack/migrations.ts";
import { run } from "../../scripts/stack/process.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import {
  assertIndexEqualsBucket,
  deleteObjects,
  indexSnapshot,
  type Job,
  putObjects,
  rebuildToEnd,
  service,
  untilReconciled,
  waitForJob,
} from "./service_support.ts";

const P = `safe${crypto.randomUUID().slice(0, 6)}-`;
const errorOf = (body: Record<string, unknown>) =>
  body.error as { code: string; message: string; details?: { job?: Job } };

/**
 * Brings the index in step with the bucket, then adds index rows whose objects the bucket does
 * not hold: one more than the index held, so a finish would remove more than half of it.
 */
async function addGhosts(tag: string): Promise<string[]> {
  await rebuildToEnd();
  const [{ count }] = await testDb()`select count(*)::int as count from public.s3_image_cache`;
  const ghosts = Array.from({ length: count + 1 }, (_, i) => `${P}${tag}-ghost-${i}.jpg`);
  await testDb()`select public.add_files_to_s3_cache(${ghosts}::text[])`;
  return ghosts;
}

const indexedNames = async () =>
  (await testDb()`select filename from public.s3_image_cache order by filename collate "C"`)
    .map((row) => row.filename as string);

Deno.test("re-running every migration file and then rebuilding keeps every row", async () => {
  await putObjects([`${P}kept-1.jpg`, `${P}kept-2.png`]);
  await rebuildToEnd();
  const before = await indexSnapshot();
  const dir = `${REPO_ROOT}supabase/migrations`;
  const files = [...Deno.readDirSync(dir)].map((entry) => entry.name).filter((name) =>
    name.endsWith(".sql")
  ).sort();
  assert.ok(files.length >= 2);
  for (const file of files) {
    await run([
      "psql",
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-d",
      stackInfo().DB_URL,
      "-f",
      `${dir}/${file}`,
    ]);
  }
  const { status, body } = await service("/", { body: {} });
  assert.equal(status, 200, JSON.stringify(body));
  const job = body.job as Job;
  assert.equal(job.status, "succeeded");
  assert.equal(job.removed, 0, JSON.stringify(job));
  assert.deepEqual(await indexSnapshot(), before, "the index is exactly as it was");
  await closeTestDb();
});

Deno.test("a rebuild that would remove most of the index is held until an admin forces it", async () => {
  const ghosts = await addGhosts("rebuild");
  const before = await indexedNames();

  const held = await service("/", { body: {} });
  assert.equal(held.status, 409, JSON.stringify(held.body));
  const error = errorOf(held.body);
  assert.equal(error.code, "needs_confirmation");
  const job = error.details!.job!;
  assert.equal(job.status, "needs_confirmation");
  assert.equal(job.summary?.guard?.would_remove, ghosts.length);
  assert.equal(job.summary?.guard?.index_count, before.length);
  assert.ok(job.summary!.guard!.removed_samples.every((name) => ghosts.includes(name)));
  assert.deepEqual(await indexedNames(), before, "nothing changed");
  // The status route shows the held job to managers too, with its numbers.
  const seen = await service(`/rebuild/${job.id}`, { token: stackInfo().MANAGER_TOKEN });
  assert.equal((seen.body.job as Job).status, "needs_confirmation");

  // POST /rebuild holds it the same way (the job ends needs_confirmation, not succeeded).
  const started = await service("/rebuild", { body: {} });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const again = await waitForJob((started.body.job as Job).id);
  assert.equal(again.status, "needs_confirmation");
  assert.deepEqual(await indexedNames(), before);

  const forced = await service("/rebuild", { body: { force: true } });
  assert.equal(forced.status, 202, JSON.stringify(forced.body));
  const applied = await waitForJob((forced.body.job as Job).id);
  assert.equal(applied.status, "succeeded", JSON.stringify(applied));
  assert.equal(applied.removed, ghosts.length);
  await assertIndexEqualsBucket();
  await closeTestDb();
});

Deno.test("the seed's POST / with force applies a mass removal at once", async () => {
  const ghosts = await addGhosts("seed");
  const { status, body } = await service("/", { body: { force: true } });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal((body.job as Job).removed, ghosts.length);
  await assertIndexEqualsBucket();
  await closeTestDb();
});

Deno.test("a reconcile apply that would remove most of the index is held; force applies it", async () => {
  let ghosts = await addGhosts("reconcile");
  const before = await indexedNames();
  let { status, body } = await untilReconciled(await service("/reconcile", { body: {} }));
  assert.equal(status, 200, JSON.stringify(body));
  const reviewed = body.job as Job;
  const held = await service(`/reconcile/${reviewed.id}/apply`, { body: {} });
  assert.equal(held.status, 409, JSON.stringify(held.body));
  assert.equal(errorOf(held.body).code, "needs_confirmation");
  assert.deepEqual(await indexedNames(), before, "nothing changed");

  // After reading the numbers: a new dry run, applied with force.
  ({ status, body } = await untilReconciled(await service("/reconcile", { body: {} })));
  const confirmed = await service(`/reconcile/${(body.job as Job).id}/apply`, {
    body: { force: true },
  });
  assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  assert.equal((confirmed.body.job as Job).removed, ghosts.length);
  await assertIndexEqualsBucket();

  // And in one call: apply with force.
  ghosts = await addGhosts("reconcile-one-call");
  ({ status, body } = await untilReconciled(
    await service("/reconcile", { body: { apply: true, force: true } }),
  ));
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal((body.job as Job).removed, ghosts.length);
  await assertIndexEqualsBucket();
  await closeTestDb();
});

Deno.test("a file removed while a rebuild runs stays removed when it finishes", async () => {
  const keys = Array.from(
    { length: 3_000 },
    (_, i) => `${P}bulk-${String(i).padStart(4, "0")}.jpg`,
  );
  await putObjects(keys);
  await rebuildToEnd();
  const removed = keys[2_500]; // listed late: the job has not reached it when the delete lands
  const started = await service("/rebuild", {
    body: { budget: { cpuMs: 150, wallMs: 50 } },
    token: stackInfo().SERVICE_ROLE_KEY,
  });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const jobId = (started.body.job as Job).id;
  const deleted = await service(`/files/${encodeURIComponent(removed)}`, { method: "DELETE" });
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  const during = await service(`/rebuild/${jobId}`);
  assert.equal((during.body.job as Job).status, "running", "the delete landed during the job");
  const job = await waitForJob(jobId);
  assert.equal(job.status, "succeeded", JSON.stringify(job));
  assert.ok(!(await indexedNames()).includes(removed), "the removed file did not come back");
  await deleteObjects(keys);
  // Most of the index goes with them: that takes force.
  const cleanup = await service("/rebuild", { body: { force: true } });
  assert.equal((await waitForJob((cleanup.body.job as Job).id)).status, "succeeded");
  await closeTestDb();
});

Deno.test("a reader polling during a rebuild that deletes and inserts sees exactly the old set or the new set", async () => {
  // Three groups of names: `gone` leaves the bucket, `kept` stays, `new` arrives. Before the
  // finish the index holds gone+kept, after it kept+new; any other mix at any read means the
  // delta was not applied in one transaction (a reader between a delete and an insert commit
  // would see kept alone, or all three). 1,000 of each make each half of the delta take long
  // enough on its own (tens of ms) for a reader polling in a tight loop to land between two
  // commits, were there two.
  const N = 1_000;
  const names = (group: string) =>
    Array.from({ length: N }, (_, i) => `${P}mix-${group}-${String(i).padStart(4, "0")}.jpg`);
  const [gone, kept, arriving] = [names("gone"), names("kept"), names("new")];
  await putObjects([...gone, ...kept]);
  const small = { cpuMs: 150, wallMs: 50 }; // several invocations, so a 202 and time to poll
  await rebuildToEnd(small);
  await deleteObjects(gone);
  await putObjects(arriving);

  const reader = testDb();
  const groups = async () => {
    const [row] = await reader`
      select
        count(*) filter (where starts_with(filename, ${`${P}mix-gone-`}))::int as gone,
        count(*) filter (where starts_with(filename, ${`${P}mix-kept-`}))::int as kept,
        count(*) filter (where starts_with(filename, ${`${P}mix-new-`}))::int as arriving
      from public.s3_image_cache where starts_with(filename, ${`${P}mix-`})`;
    return `${row.gone}/${row.kept}/${row.arriving}`;
  };
  const OLD = `${N}/${N}/0`;
  const NEW = `0/${N}/${N}`;
  assert.equal(await groups(), OLD);
  const started = await service("/rebuild", {
    body: { budget: small },
    token: stackInfo().SERVICE_ROLE_KEY,
  });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const jobId = (started.body.job as Job).id;
  const seen = new Map<string, number>();
  let status = "running";
  const deadline = Date.now() + 90_000;
  for (let reads = 1; status === "running"; reads++) {
    assert.ok(Date.now() < deadline, `job ${jobId} still running after 90 s`);
    const state = await groups();
    seen.set(state, (seen.get(state) ?? 0) + 1);
    assert.ok(state === OLD || state === NEW, `read ${reads} saw gone/kept/new = ${state}`);
    if (reads % 25 === 0) status = ((await service(`/rebuild/${jobId}`)).body.job as Job).status;
  }
  assert.equal(status, "succeeded");
  assert.equal(await groups(), NEW);
  assert.ok((seen.get(OLD) ?? 0) > 10, `the reader saw the old set ${seen.get(OLD)} times`);
  await deleteObjects([...kept, ...arriving]);
  const cleanup = await service("/rebuild", { body: { force: true } });
  assert.equal((await waitForJob((cleanup.body.job as Job).id)).status, "succeeded");
  await closeTestDb();
});
