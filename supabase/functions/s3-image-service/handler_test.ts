/**
 * `s3-image-service` end to end inside one process: requests go through the deployed entry
 * point (`index.ts`: CORS, error rendering, router, token check, role check, route, rebuild
 * service) with the bucket, the index and the SQL job primitives replaced by in-memory fakes.
 */
import assert from "node:assert/strict";
import { createServiceHandler } from "./handler.ts";
import { createFileAdmin } from "./file_admin.ts";
import { createRebuildService } from "./jobs/service.ts";
import { FakeIndex } from "../_shared/images/testdata/fake_index.ts";
import { FakeJobs, RecordingContinuation } from "./jobs/testdata/fakes.ts";
import { FakeStorage } from "../_shared/platform/testdata/fake_storage.ts";
import {
  headersFor,
  requestAs,
  testAuthenticator,
  type TestCaller,
} from "../_shared/auth/testdata/test_callers.ts";

const BASE = "https://ref.supabase.co/functions/v1/s3-image-service";

/** The function as its composition root would build it, over the fakes of the last setup(). */
let service: (request: Request) => Response | Promise<Response>;

/**
 * A fresh service over fakes; `wallMs` is the per-invocation wall budget, `jobs` a job-store
 * fake that misbehaves in the way a test needs.
 */
function setup<J extends FakeJobs = FakeJobs>(
  options: { wallMs?: number; jobs?: (index: FakeIndex) => J } = {},
) {
  const storage = new FakeStorage();
  const index = new FakeIndex();
  const jobs = options.jobs?.(index) ?? new FakeJobs(index) as J;
  const continuation = new RecordingContinuation();
  const rebuilds = createRebuildService({
    jobs,
    storage,
    continuation,
    defaults: {
      budget: { cpuMs: 1_000_000, wallMs: options.wallMs ?? 1_000_000 },
      leaseSeconds: 60,
    },
    pageSize: 2,
  });
  const services = {
    index,
    files: createFileAdmin({ index, storage, signedUrlSeconds: 60 }),
    rebuilds,
    functionUrl: BASE,
  };
  service = createServiceHandler({
    authenticator: testAuthenticator,
    services: () => services,
    healthChecks: () => ({}),
  });
  return { storage, index, jobs, continuation };
}

/** Calls the function as `who`; answers the status and the parsed body. */
async function call(who: TestCaller, method: string, path: string, body?: unknown) {
  const response = await service(await requestAs(who, method, `${BASE}${path}`, body));
  const text = await response.text();
  return {
    status: response.status,
    body: text ? JSON.parse(text) : null,
    headers: response.headers,
  };
}

/** Index rows the fake index starts with, as if indexed long ago. */
async function indexed(index: FakeIndex, names: string[], etag = "old") {
  for (const name of names) await index.add(name, { etag });
}

const ALL: TestCaller[] = [
  "none",
  "anon",
  "authenticated",
  "user_metadata_admin",
  "manager",
  "admin",
  "service",
];

/**
 * Who may call what (docs/security.md): every other caller is refused, 401 without
 * credentials, 403 with credentials that lack the role.
 */
const ROLE_MATRIX: Array<[string, string, unknown, TestCaller[]]> = [
  ["POST", "/", undefined, ["admin", "service"]],
  ["POST", "/rebuild", {}, ["admin", "service"]],
  ["GET", "/rebuild", undefined, ["manager", "admin", "service"]],
  ["GET", "/rebuild/1", undefined, ["manager", "admin", "service"]],
  ["POST", "/rebuild/1/continue", { worker: "w", budget: { cpuMs: 1, wallMs: 1 } }, ["service"]],
  ["POST", "/rebuild/1/cancel", undefined, ["admin", "service"]],
  ["POST", "/reconcile", {}, ["admin", "service"]],
  ["GET", "/reconcile/1", undefined, ["manager", "admin", "service"]],
  ["POST", "/reconcile/1/apply", {}, ["admin", "service"]],
  ["GET", "/stats", undefined, ["manager", "admin", "service"]],
  ["GET", "/files", undefined, ["manager", "admin", "service"]],
  ["POST", "/files", { filename: "1.jpg" }, ["manager", "admin", "service"]],
  ["DELETE", "/files/1.jpg", undefined, ["admin", "service"]],
];

for (const [method, path, body, allowed] of ROLE_MATRIX) {
  Deno.test(`s3-image-service ${method} ${path}: only ${allowed.join(", ")} get past the role check`, async () => {
    for (const who of ALL) {
      const { storage, jobs } = setup();
      storage.seed("1.jpg");
      jobs.add({ mode: "reconcile" });
      const { status, body: answer } = await call(who, method, path, body);
      if (allowed.includes(who)) {
        assert.ok(![401, 403].includes(status), `${who}: ${status} ${JSON.stringify(answer)}`);
      } else {
        const expected = who === "none" ? 401 : 403;
        assert.equal(status, expected, `${who}: ${JSON.stringify(answer)}`);
        assert.equal(answer.error.code, who === "none" ? "unauthorized" : "forbidden");
      }
    }
  });
}

Deno.test("s3-image-service: a refusal carries the CORS headers and no internals", async () => {
  setup();
  const { status, headers, body } = await call("anon", "POST", "/rebuild", {});
  assert.equal(status, 403);
  assert.equal(headers.get("access-control-allow-origin"), "*");
  assert.match(
    body.error.message,
    /Only admin users may rebuild the index; you are signed in as anon/,
  );
});

Deno.test("POST / (the seed's call) rebuilds the index from the bucket and answers the count", async () => {
  const { storage, index } = setup();
  for (const name of ["1.jpg", "2.png", "3.webp", "not an image/x.jpg"]) storage.seed(name);
  await indexed(index, ["1.jpg"]);
  const { status, body } = await call("admin", "POST", "/");
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.success, true);
  assert.equal(body.count, 3, "the key with a path is listed but not indexed");
  assert.equal(body.job.status, "succeeded");
  assert.deepEqual([...index.rows.keys()].sort(), ["1.jpg", "2.png", "3.webp"]);
});

Deno.test("POST / holds a removal of more than half of the index until force: true", async () => {
  const { storage, index } = setup();
  storage.seed("1.jpg");
  await indexed(index, ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]);
  const held = await call("admin", "POST", "/");
  assert.equal(held.status, 409);
  assert.equal(held.body.error.code, "needs_confirmation");
  assert.equal(held.body.error.details.job.summary.guard.would_remove, 3);
  assert.equal(index.rows.size, 4, "nothing was removed");

  const forced = await call("admin", "POST", "/", { force: true });
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  assert.deepEqual([...index.rows.keys()], ["1.jpg"]);
});

Deno.test("POST / that cannot list the bucket answers 502 rebuild_failed and keeps the index", async () => {
  const { storage, index } = setup();
  storage.listError = Object.assign(new Error("Access Denied"), { name: "AccessDenied" });
  await indexed(index, ["1.jpg"]);
  const { status, body } = await call("admin", "POST", "/");
  assert.equal(status, 502);
  assert.equal(body.error.code, "rebuild_failed");
  assert.match(body.error.message, /Listing the bucket failed/);
  assert.equal(body.error.details.job.status, "failed");
  assert.deepEqual([...index.rows.keys()], ["1.jpg"]);
});

Deno.test("POST / whose budget runs out answers 202 with a status URL and hands the rest on", async () => {
  const { storage, continuation } = setup({ wallMs: 50 });
  storage.listDelayMs = 60; // a page costs more than the whole wall budget
  for (const name of ["1.jpg", "2.jpg", "3.jpg"]) storage.seed(name);
  const { status, body } = await call("admin", "POST", "/");
  assert.equal(status, 202, JSON.stringify(body));
  assert.equal(body.success, true);
  assert.equal(body.statusUrl, `${BASE}/rebuild/${body.job.id}`);
  assert.equal(continuation.scheduled.length, 1);
  assert.equal(continuation.scheduled[0].jobId, body.job.id);
  assert.equal(body.job.listing_complete, false);
});

Deno.test("POST /rebuild starts a job in the background; a second start joins it", async () => {
  const { continuation } = setup();
  const first = await call("admin", "POST", "/rebuild", {});
  assert.equal(first.status, 202);
  assert.equal(first.body.started, true);
  assert.equal(first.body.statusUrl, `${BASE}/rebuild/${first.body.job.id}`);
  assert.equal(continuation.scheduled.length, 1, "a worker was handed the new job");

  const second = await call("admin", "POST", "/rebuild", {});
  assert.equal(second.status, 202);
  assert.equal(second.body.started, false);
  assert.equal(second.body.job.id, first.body.job.id);
  assert.match(second.body.message, /already running/);
});

Deno.test("POST /rebuild: only service_role may set a budget, and never above the configured one", async () => {
  setup();
  const refused = await call("admin", "POST", "/rebuild", { budget: { wallMs: 500 } });
  assert.equal(refused.status, 403);
  assert.match(refused.body.error.message, /Only service_role may set a rebuild budget/);

  const { status, body } = await call("service", "POST", "/rebuild", {
    budget: { cpuMs: 20, wallMs: 5_000_000 },
  });
  assert.equal(status, 202);
  assert.deepEqual(body.job.summary.budget, { cpu_ms: 20, wall_ms: 1_000_000 });
});

Deno.test("POST /rebuild refuses unknown fields and a running reconcile with readable 4xx", async () => {
  const { jobs } = setup();
  const unknown = await call("admin", "POST", "/rebuild", { everything: true });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.code, "validation_failed");

  jobs.add({ mode: "reconcile" });
  const busy = await call("admin", "POST", "/rebuild", {});
  assert.equal(busy.status, 409);
  assert.equal(busy.body.error.code, "rebuild_running");
  assert.match(busy.body.error.message, /Reconcile 1 is running/);
});

Deno.test("GET /rebuild and /rebuild/:id show progress; unknown and malformed ids are 404 and 400", async () => {
  const { jobs, continuation } = setup();
  assert.deepEqual((await call("manager", "GET", "/rebuild")).body, { job: null });
  const job = jobs.add({ pages: 3, listed: 3000, continuation_token: "t" });

  const latest = await call("manager", "GET", "/rebuild");
  assert.equal(latest.body.job.id, job.id);
  assert.equal(latest.body.job.listed, 3000);
  assert.ok(latest.body.job.duration_ms >= 0);
  assert.equal(continuation.scheduled.length, 1, "a job without a live worker is picked up");

  const one = await call("manager", "GET", `/rebuild/${job.id}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.job.pages, 3);

  const missing = await call("manager", "GET", "/rebuild/99");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.message, "Rebuild 99 does not exist");

  for (const bad of ["abc", "0", "1.5", "99999999999999999999"]) {
    const malformed = await call("manager", "GET", `/rebuild/${bad}`);
    assert.equal(malformed.status, 400, bad);
    assert.equal(malformed.body.error.code, "validation_failed");
  }
});

Deno.test("GET /rebuild/:id leaves a job alone while its worker's lease is live", async () => {
  const { jobs, continuation } = setup();
  const job = jobs.add({
    lease_owner: "busy-worker",
    lease_expires_at: new Date(Date.now() + 60_000).toISOString(),
  });
  assert.equal((await call("admin", "GET", `/rebuild/${job.id}`)).status, 200);
  assert.equal(continuation.scheduled.length, 0);
});

Deno.test("POST /rebuild/:id/cancel stops a running job; a second cancel is 409, an unknown job 404", async () => {
  const { jobs, index } = setup();
  await indexed(index, ["1.jpg"]);
  const job = jobs.add();
  const cancelled = await call("admin", "POST", `/rebuild/${job.id}/cancel`);
  assert.equal(cancelled.status, 200);
  assert.equal(cancelled.body.job.status, "cancelled");
  assert.equal(index.rows.size, 1, "the index is left exactly as it was");

  const again = await call("admin", "POST", `/rebuild/${job.id}/cancel`);
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "conflict");
  assert.equal((await call("admin", "POST", "/rebuild/42/cancel")).status, 404);
});

Deno.test("POST /rebuild/:id/continue (service_role) accepts a slice at once and runs it in the background", async () => {
  const { jobs, storage, index } = setup();
  storage.seed("1.jpg");
  const job = jobs.add();
  const bad = await call("service", "POST", `/rebuild/${job.id}/continue`, { worker: "" });
  assert.equal(bad.status, 400);

  const { status, body } = await call("service", "POST", `/rebuild/${job.id}/continue`, {
    worker: "w1",
    budget: { cpuMs: 1_000_000, wallMs: 1_000_000 },
  });
  assert.equal(status, 202);
  assert.deepEqual(body, { accepted: true, job_id: job.id, worker: "w1" });
  // The slice goes on after the answer; give it its turn.
  for (let i = 0; i < 50 && jobs.jobs.get(job.id)!.status === "running"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.equal(jobs.jobs.get(job.id)!.status, "succeeded");
  assert.ok(index.rows.has("1.jpg"));
});

Deno.test("POST /reconcile is a dry run: it reports the drift and changes nothing until applied", async () => {
  const { storage, index } = setup();
  for (const name of ["1.jpg", "2.jpg", "3.jpg"]) storage.seed(name);
  await indexed(index, ["2.jpg", "gone.jpg"]);

  const dry = await call("admin", "POST", "/reconcile", { sampleLimit: 10 });
  assert.equal(dry.status, 200, JSON.stringify(dry.body));
  assert.equal(dry.body.applied, false);
  assert.deepEqual(dry.body.report.missing_from_index, ["1.jpg", "3.jpg"]);
  assert.deepEqual(dry.body.report.missing_from_bucket, ["gone.jpg"]);
  assert.deepEqual(dry.body.report.changed, ["2.jpg"], "its ETag differs from the bucket's");
  assert.deepEqual([...index.rows.keys()].sort(), ["2.jpg", "gone.jpg"]);
  const id = dry.body.job.id;

  const again = await call("manager", "GET", `/reconcile/${id}?sampleLimit=1`);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body.report.missing_from_index, ["1.jpg"]);

  const rejoined = await call("admin", "POST", "/reconcile", {});
  assert.equal(rejoined.body.job.id, id, "a second start shows the same listed job again");
  assert.equal(rejoined.body.report.to_insert, 2);

  const applied = await call("admin", "POST", `/reconcile/${id}/apply`, {});
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  assert.equal(applied.body.applied, true);
  assert.deepEqual([...index.rows.keys()].sort(), ["1.jpg", "2.jpg", "3.jpg"]);

  const done = await call("manager", "GET", `/reconcile/${id}`);
  assert.equal(done.body.applied, true);
  const twice = await call("admin", "POST", `/reconcile/${id}/apply`, {});
  assert.equal(twice.status, 409);
});

Deno.test("POST /reconcile with apply: true applies once listed; a held removal needs force", async () => {
  const { storage, index } = setup();
  storage.seed("1.jpg");
  await indexed(index, ["1.jpg", "2.jpg", "3.jpg"], "etag-1");

  const held = await call("admin", "POST", "/reconcile", { apply: true });
  assert.equal(held.status, 409);
  assert.equal(held.body.error.code, "needs_confirmation");
  assert.match(held.body.error.message, /Reconcile \d+ would remove more than half/);
  assert.equal(index.rows.size, 3);

  const forced = await call("admin", "POST", "/reconcile", { apply: true, force: true });
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  assert.equal(forced.body.applied, true);
  assert.deepEqual([...index.rows.keys()], ["1.jpg"]);
});

Deno.test("POST /reconcile/:id/apply with force applies a mass removal the dry run showed", async () => {
  const { storage, index } = setup();
  storage.seed("1.jpg");
  await indexed(index, ["1.jpg", "2.jpg", "3.jpg"], "etag-1");
  const dry = await call("admin", "POST", "/reconcile", {});
  const id = dry.body.job.id;
  const held = await call("admin", "POST", `/reconcile/${id}/apply`, {});
  assert.equal(held.status, 409);
  assert.equal(held.body.error.code, "needs_confirmation");
  assert.equal(index.rows.size, 3);

  const dry2 = await call("admin", "POST", "/reconcile", {});
  const forced = await call("admin", "POST", `/reconcile/${dry2.body.job.id}/apply`, {
    force: true,
  });
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  assert.deepEqual([...index.rows.keys()], ["1.jpg"]);
});

Deno.test("POST /reconcile/:id/apply while still listing marks it to apply when done (202)", async () => {
  const { jobs, continuation } = setup();
  const job = jobs.add({ mode: "reconcile", continuation_token: "t", pages: 1 });
  const { status, body } = await call("admin", "POST", `/reconcile/${job.id}/apply`, {});
  assert.equal(status, 202);
  assert.equal(body.applied, false);
  assert.equal(jobs.jobs.get(job.id)!.summary?.apply, true);
  assert.equal(continuation.scheduled.length, 1, "its stalled listing is picked up");

  const status2 = await call("manager", "GET", `/reconcile/${job.id}`);
  assert.equal(status2.status, 202);
  assert.equal(status2.body.statusUrl, `${BASE}/reconcile/${job.id}`);
});

Deno.test("reconcile routes refuse rebuild jobs and unknown ids", async () => {
  const { jobs } = setup();
  const rebuild = jobs.add({ status: "succeeded" });
  const read = await call("manager", "GET", `/reconcile/${rebuild.id}`);
  assert.equal(read.status, 404);
  assert.match(read.body.error.message, /is a rebuild; read it at \/rebuild\//);
  assert.equal((await call("manager", "GET", "/reconcile/77")).status, 404);
  const apply = await call("admin", "POST", `/reconcile/${rebuild.id}/apply`, {});
  assert.equal(apply.status, 409);
  assert.match(apply.body.error.message, /is a rebuild, not a reconcile/);
  assert.equal((await call("admin", "POST", "/reconcile/77/apply", {})).status, 404);
});

Deno.test("POST /reconcile while a rebuild runs is 409 rebuild_running", async () => {
  const { jobs } = setup();
  jobs.add({ mode: "rebuild" });
  const { status, body } = await call("admin", "POST", "/reconcile", {});
  assert.equal(status, 409);
  assert.equal(body.error.code, "rebuild_running");
});

Deno.test("a rebuild supersedes a reconcile that only waits for review", async () => {
  const { storage, jobs } = setup();
  storage.seed("1.jpg");
  const dry = await call("admin", "POST", "/reconcile", {});
  const rebuild = await call("admin", "POST", "/rebuild", {});
  assert.equal(rebuild.status, 202);
  assert.equal(rebuild.body.started, true);
  assert.equal(jobs.jobs.get(dry.body.job.id)!.status, "cancelled");
});

Deno.test("POST /files adds a file the bucket holds; a missing one is 404 unless an admin forces it", async () => {
  const { storage, index } = setup();
  storage.seed("7.jpg", new Uint8Array(12));
  const added = await call("manager", "POST", "/files", { filename: "7.jpg" });
  assert.equal(added.status, 200);
  assert.equal(added.body.checked, true);
  assert.equal(index.rows.get("7.jpg")?.size_bytes, 12);

  const missing = await call("manager", "POST", "/files", { filename: "8.jpg" });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "not_in_bucket");

  const managerForce = await call("manager", "POST", "/files", { filename: "8.jpg", force: true });
  assert.equal(managerForce.status, 403);
  const forced = await call("admin", "POST", "/files", { filename: "8.jpg", force: true });
  assert.equal(forced.status, 200);
  assert.equal(forced.body.checked, false);

  const traversal = await call("manager", "POST", "/files", { filename: "../etc/passwd.jpg" });
  assert.equal(traversal.status, 400);
  assert.equal(traversal.body.error.code, "invalid_filename");
  const wrongType = await call("manager", "POST", "/files", { filename: 5 });
  assert.equal(wrongType.status, 400);
});

Deno.test("DELETE /files/:filename removes the entry, and the object only when asked", async () => {
  const { storage, index } = setup();
  storage.seed("5.jpg");
  await indexed(index, ["5.jpg", "6.jpg"]);
  const kept = await call("admin", "DELETE", "/files/6.jpg");
  assert.equal(kept.status, 200);
  assert.deepEqual(kept.body, { filename: "6.jpg", removed: true, objectDeleted: false });

  const both = await call("admin", "DELETE", "/files/5.jpg?deleteObject=true");
  assert.deepEqual(both.body, { filename: "5.jpg", removed: true, objectDeleted: true });
  assert.equal(storage.objects.has("5.jpg"), false);

  assert.equal((await call("admin", "DELETE", "/files/5.jpg")).status, 404);
  assert.equal((await call("admin", "DELETE", "/files/5.jpg?deleteObject=maybe")).status, 400);
});

Deno.test("GET /files pages the index in byte order with preview URLs; bad limits are 400", async () => {
  const { index } = setup();
  await indexed(index, ["b.jpg", "a.jpg", "c.jpg", "x.jpg"]);
  const first = await call("manager", "GET", "/files?limit=2");
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.files.map((f: { filename: string }) => f.filename), [
    "a.jpg",
    "b.jpg",
  ]);
  assert.match(first.body.files[0].url, /^https:\/\/s3\.test\/fake-bucket\/a\.jpg\?get/);
  assert.equal(first.body.nextCursor, "b.jpg");
  const next = await call("manager", "GET", `/files?limit=2&cursor=b.jpg`);
  assert.deepEqual(next.body.files.map((f: { filename: string }) => f.filename), [
    "c.jpg",
    "x.jpg",
  ]);
  assert.equal(next.body.nextCursor, null);
  const prefixed = await call("manager", "GET", "/files?prefix=x");
  assert.equal(prefixed.body.files.length, 1);
  for (const bad of ["limit=0", "limit=201", "limit=ten", "color=red"]) {
    assert.equal((await call("manager", "GET", `/files?${bad}`)).status, 400, bad);
  }
});

Deno.test("GET /stats answers the index's counters; a database outage is 503, not 500", async () => {
  const { index } = setup();
  await indexed(index, ["1.jpg", "2.jpg"]);
  const { status, body } = await call("manager", "GET", "/stats");
  assert.equal(status, 200);
  // No live sync is wired over these fakes: it reads as off, with nothing counted.
  assert.deepEqual(body, {
    files: 2,
    live_sync: {
      enabled: false,
      last_applied: null,
      last_hour: { applied: 0, ignored: 0, refused: 0, malformed: 0 },
    },
  });

  index.failWith = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const down = await call("manager", "GET", "/stats");
  assert.equal(down.status, 503);
  assert.equal(down.body.error.code, "database_unavailable");
  assert.doesNotMatch(JSON.stringify(down.body), /ECONNREFUSED/);
});

Deno.test("s3-image-service: unknown paths are 404, wrong methods 405 with Allow, preflight 204", async () => {
  setup();
  const unknown = await call("admin", "GET", "/nothing-here");
  assert.equal(unknown.status, 404);
  const wrong = await call("admin", "PUT", "/stats");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, OPTIONS");
  const preflight = await service(new Request(`${BASE}/rebuild`, { method: "OPTIONS" }));
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
});

Deno.test("GET /health says who is calling, and refuses a caller without credentials", async () => {
  setup();
  assert.equal((await call("none", "GET", "/health")).status, 401);
  const { body } = await call("manager", "GET", "/health");
  assert.equal(body.function, "s3-image-service");
  assert.equal(body.role, "manager");
});

Deno.test("POST /reconcile whose budget runs out answers 202 and goes on in the background", async () => {
  const { storage, continuation } = setup({ wallMs: 50 });
  storage.listDelayMs = 60;
  for (const name of ["1.jpg", "2.jpg", "3.jpg"]) storage.seed(name);
  const { status, body } = await call("admin", "POST", "/reconcile", {});
  assert.equal(status, 202, JSON.stringify(body));
  assert.equal(body.applied, false);
  assert.equal(body.statusUrl, `${BASE}/reconcile/${body.job.id}`);
  assert.equal(continuation.scheduled.length, 1);
});

Deno.test("POST /reconcile with apply: true applies a dry run that waits for review", async () => {
  const { storage, index } = setup();
  storage.seed("1.jpg");
  const dry = await call("admin", "POST", "/reconcile", {});
  assert.equal(index.rows.size, 0);
  const applied = await call("admin", "POST", "/reconcile", { apply: true });
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  assert.equal(applied.body.job.id, dry.body.job.id);
  assert.equal(applied.body.applied, true);
  assert.ok(index.rows.has("1.jpg"));
});

Deno.test("GET /reconcile/:id of a cancelled reconcile shows it, not applied", async () => {
  const { jobs } = setup();
  const job = jobs.add({ mode: "reconcile", status: "cancelled" });
  const { status, body } = await call("manager", "GET", `/reconcile/${job.id}`);
  assert.equal(status, 200);
  assert.equal(body.applied, false);
  assert.equal(body.job.status, "cancelled");
});

/** Job primitives where the job is cancelled by someone else just before a worker claims it. */
class CancelledUnderUs extends FakeJobs {
  override claim(jobId: number, worker: string, leaseSeconds: number) {
    if (this.jobs.get(jobId)?.status === "running") void this.cancel(jobId);
    return super.claim(jobId, worker, leaseSeconds);
  }
}

Deno.test("POST / of a job cancelled while it was driven answers 409 with the job", async () => {
  setup({ jobs: (index) => new CancelledUnderUs(index) });
  const { status, body } = await call("admin", "POST", "/");
  assert.equal(status, 409);
  assert.equal(body.error.code, "conflict");
  assert.match(body.error.message, /ended while it was being driven \(status: cancelled\)/);
  assert.equal(body.error.details.job.status, "cancelled");
});

/** Job primitives whose finish refuses (the SQL API found the staged pages do not add up). */
class RefusingFinish extends FakeJobs {
  override finish(jobId: number) {
    return this.fail(jobId, "Cannot finish: staged keys do not match the listed count");
  }
}

Deno.test("POST /reconcile/:id/apply answers 502 rebuild_failed when finish refuses; index untouched", async () => {
  const { index, jobs } = setup({ jobs: (index) => new RefusingFinish(index) });
  await indexed(index, ["1.jpg"]);
  const job = jobs.add({ mode: "reconcile", listing_complete: true });
  const { status, body } = await call("admin", "POST", `/reconcile/${job.id}/apply`, {});
  assert.equal(status, 502);
  assert.equal(body.error.code, "rebuild_failed");
  assert.match(body.error.message, /do not match the listed count/);
  assert.deepEqual([...index.rows.keys()], ["1.jpg"]);
});

/** Job primitives whose database has gone away once the job exists. */
class DatabaseGone extends FakeJobs {
  override claim(): never {
    throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), {
      code: "ECONNREFUSED",
    });
  }
}

Deno.test("POST / while the database is away answers 503 database_unavailable; the job is paused, not failed", async () => {
  const { jobs } = setup({ jobs: (index) => new DatabaseGone(index) });
  const { status, body } = await call("admin", "POST", "/");
  assert.equal(status, 503);
  assert.equal(body.error.code, "database_unavailable");
  assert.match(body.error.message, /the job is paused and resumes/);
  assert.doesNotMatch(body.error.message, /ECONNREFUSED|5432/);
  assert.equal([...jobs.jobs.values()][0].status, "running");
});

Deno.test("s3-image-service answers a hostile Origin with * and never with credentials (preflight, success, refusal)", async () => {
  setup();
  const origin = { origin: "https://evil.example" };
  const answers = [
    await service(
      new Request(`${BASE}/stats`, {
        method: "OPTIONS",
        headers: { ...origin, "access-control-request-method": "GET" },
      }),
    ),
    await service(
      new Request(`${BASE}/stats`, { headers: { ...origin, ...(await headersFor("manager")) } }),
    ),
    await service(new Request(`${BASE}/stats`, { headers: origin })),
  ];
  assert.deepEqual(answers.map((r) => r.status), [204, 200, 401]);
  for (const response of answers) {
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.equal(response.headers.get("access-control-allow-credentials"), null);
    assert.doesNotMatch(response.headers.get("vary") ?? "", /origin/i);
    await response.body?.cancel();
  }
});
