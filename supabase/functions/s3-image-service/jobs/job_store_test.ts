import assert from "node:assert/strict";
import type { Sql } from "../../_shared/platform/db.ts";
import {
  createRebuildJobs,
  leaseIsFree,
  MAX_SKIPPED_SAMPLES,
  type RebuildJob,
} from "./job_store.ts";

/** A postgres.js stand-in answering each statement with the next reply; records the values. */
function scriptedSql(...replies: unknown[]) {
  const calls: Array<{ text: string; values: unknown[] }> = [];
  const sql = (strings: TemplateStringsArray, ...values: unknown[]) => {
    calls.push({ text: strings.join("$"), values });
    return Promise.resolve(replies.shift());
  };
  sql.json = (value: unknown) => ({ json: value });
  return { sql: sql as unknown as Sql, calls };
}

const job = (patch: Partial<RebuildJob> = {}) =>
  ({ id: 7, status: "running", ...patch }) as RebuildJob;

Deno.test("RebuildJobs calls each SQL primitive with the job's values and returns its answer", async () => {
  const running = job();
  const { sql, calls } = scriptedSql(
    [{ result: { started: true, job: running } }],
    [{ job: running }],
    [{ job: running }],
    [{ preview: { job_id: 7 } }],
    [{ job: { ...running, status: "succeeded" } }],
    [{ job: { ...running, status: "failed" } }],
    [{ job: { ...running, status: "cancelled" } }],
    [{ job: running }],
  );
  const jobs = createRebuildJobs(sql);
  assert.deepEqual(await jobs.start("admin@example.test", "reconcile", true), {
    started: true,
    job: running,
  });
  assert.deepEqual(calls[0].values, ["admin@example.test", "reconcile", true]);
  assert.equal((await jobs.force(7)).id, 7);
  assert.match(calls[1].text, /s3_cache_rebuild_force/);
  await jobs.stagePage(7, "w", {
    previousToken: null,
    nextToken: "t2",
    objects: [{ key: "1.jpg", size: 3, etag: "e", lastModified: new Date(5) }],
  });
  assert.deepEqual(calls[2].values, [7, "w", null, "t2", "1.jpg\t3\te\t5\n"]);
  assert.deepEqual(await jobs.preview(7, 10), { job_id: 7 });
  assert.equal((await jobs.finish(7)).status, "succeeded");
  assert.equal((await jobs.fail(7, "broken")).status, "failed");
  assert.deepEqual(calls[5].values, [7, "broken"]);
  assert.equal((await jobs.cancel(7)).status, "cancelled");
  assert.equal((await jobs.claim(7, "w", 90))?.id, 7);
  assert.deepEqual(calls[7].values, [7, "w", 90]);
});

Deno.test("RebuildJobs.claim() is null when another worker holds the lease", async () => {
  const { sql } = scriptedSql([{ job: null }]);
  assert.equal(await createRebuildJobs(sql).claim(7, "w", 90), null);
});

Deno.test("RebuildJobs.status() reads the latest job without an id, and null when there is none", async () => {
  const now = new Date();
  const { sql, calls } = scriptedSql([{ job: job(), now }], [{ job: null, now }], []);
  const jobs = createRebuildJobs(sql);
  assert.deepEqual(await jobs.status(), { job: job(), now });
  assert.deepEqual(calls[0].values, [null]);
  assert.equal(await jobs.status(8), null);
  assert.equal(await jobs.status(9), null);
});

Deno.test("RebuildJobs records an invocation's cost to a tenth of a millisecond", async () => {
  const { sql, calls } = scriptedSql([]);
  await createRebuildJobs(sql).recordInvocation(7, {
    cpuMs: 1.2345,
    wallMs: 10.06,
    pages: 2,
    keys: 2000,
    clocks: ["cpu", "wall", "work"],
  });
  assert.deepEqual(calls[0].values, [7, 1.2, 10.1, 2, 2000, ["cpu", "wall", "work"]]);
});

Deno.test("RebuildJobs records an unmeasured CPU time as null, with the clocks it used", async () => {
  const { sql, calls } = scriptedSql([]);
  await createRebuildJobs(sql).recordInvocation(7, {
    cpuMs: null,
    wallMs: 10,
    pages: 1,
    keys: 1000,
    clocks: ["wall", "work"],
  });
  assert.deepEqual(calls[0].values, [7, null, 10, 1, 1000, ["wall", "work"]]);
});

Deno.test("RebuildJobs.annotate() sends the patch as JSON with the skipped-samples cap", async () => {
  const { sql, calls } = scriptedSql([]);
  await createRebuildJobs(sql).annotate(7, { apply: true });
  assert.deepEqual(calls[0].values, [7, { json: { apply: true } }, MAX_SKIPPED_SAMPLES]);
});

Deno.test("leaseIsFree(): free without an owner or after expiry, never for an ended job", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  assert.equal(leaseIsFree(job(), now), true);
  assert.equal(
    leaseIsFree(job({ lease_owner: "w", lease_expires_at: "2026-01-01T00:00:10Z" }), now),
    false,
  );
  assert.equal(
    leaseIsFree(job({ lease_owner: "w", lease_expires_at: "2025-12-31T23:59:59Z" }), now),
    true,
  );
  assert.equal(leaseIsFree(job({ status: "succeeded" }), now), false);
});

Deno.test("RebuildJobs passes the range primitives their values: the page as text, keys as text", async () => {
  const running = job({ ranges: { total: 2, done: 0 } });
  const range = { range: 2, start_after: "5", up_to: null, last_key: null, complete: false };
  const { sql, calls } = scriptedSql(
    [{ job: running }],
    [{ claim: { job: running, ranges: [range], free: 1, workers: 1, open: [range] } }],
    [{ claim: null }],
    [{ staged: { job: running, range } }],
    [{ split: { job: running, range: { ...range, range: 3 } } }],
  );
  const jobs = createRebuildJobs(sql);
  const objects = [{ key: "1.jpg", size: 3, etag: "e", lastModified: new Date(5) }];
  assert.deepEqual(
    await jobs.partition(7, "w", {
      previousToken: "t3",
      objects,
      afterKey: "1.jpg",
      boundaries: ["5"],
    }),
    running,
  );
  assert.deepEqual(calls[0].values, [7, "w", "t3", "1.jpg\t3\te\t5\n", "1.jpg", ["5"]]);
  assert.equal((await jobs.claimRanges(7, "w", 60, 2))?.ranges[0].range, 2);
  assert.deepEqual(calls[1].values, [7, "w", 60, 2]);
  assert.equal(await jobs.claimRanges(7, "w", 60, 2), null, "the job is not running");
  await jobs.stageRangePage(7, "w", {
    range: 2,
    previousKey: null,
    lastKey: "1.jpg",
    complete: true,
    objects,
  });
  assert.deepEqual(calls[3].values, [7, 2, "w", null, "1.jpg", true, "1.jpg\t3\te\t5\n"]);
  assert.equal((await jobs.splitRange(7, 2, "w", "7", 60)).range.range, 3);
  assert.deepEqual(calls[4].values, [7, 2, "w", "7", 60]);
});
