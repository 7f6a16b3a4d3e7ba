/**
 * The admin operations of `s3-image-service` over HTTP: who may do what, validated input, add
 * one file checked against the bucket, remove (optionally the object too), list/search with
 * preview URLs, stats, and reconcile in both directions (dry run, then apply).
 */
import assert from "node:assert/strict";
import { projectToken, userClaims } from "../support/tokens.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { stackInfo } from "../support/stack.ts";
import {
  assertIndexEqualsBucket,
  bodyFor,
  deleteObjects,
  indexSnapshot,
  type Job,
  putObjects,
  rebuildToEnd,
  service,
  sleep,
  storage,
  untilReconciled,
} from "./service_support.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const P = `ops${RUN}-`;

type ErrorBody = { error: { code: string; message: string } };
const errorOf = (body: Record<string, unknown>) => (body as ErrorBody).error;

async function plainUserToken(): Promise<string> {
  return await projectToken(userClaims({ sub: "00000000-0000-4000-8000-0000000000ff" }));
}

Deno.test("roles: anon and plain users get 403; managers read and add; admins do the rest", async () => {
  const info = stackInfo();
  const plain = await plainUserToken();
  const readRoutes = ["/stats", "/files", "/rebuild"];
  for (const token of [info.ANON_KEY, plain]) {
    for (const path of readRoutes) {
      const { status, body } = await service(path, { token });
      assert.equal(status, 403, `${path}: ${JSON.stringify(body)}`);
      assert.equal(errorOf(body).code, "forbidden");
    }
  }
  for (const path of readRoutes) {
    assert.equal((await service(path, { token: info.MANAGER_TOKEN })).status, 200, path);
  }
  const adminOnly: Array<[string, string, unknown]> = [
    ["POST", "/", {}],
    ["POST", "/rebuild", {}],
    ["POST", "/rebuild/1/cancel", {}],
    ["POST", "/reconcile", {}],
    ["POST", "/reconcile/1/apply", {}],
    ["DELETE", "/files/1.jpg", undefined],
  ];
  for (const [method, path, body] of adminOnly) {
    const answer = await service(path, { method, body, token: info.MANAGER_TOKEN });
    assert.equal(answer.status, 403, `${method} ${path}: ${JSON.stringify(answer.body)}`);
    assert.match(errorOf(answer.body).message, /you are signed in as manager/);
  }
  // The worker's self-continuation is for the service key alone, not even for admins.
  const cont = await service("/rebuild/1/continue", {
    body: { worker: "w", budget: { cpuMs: 1, wallMs: 1 } },
  });
  assert.equal(cont.status, 403);
  // Only service_role may shrink a job's budget.
  const budget = await service("/rebuild", { body: { budget: { cpuMs: 100 } } });
  assert.equal(budget.status, 403);
  assert.equal(errorOf(budget.body).message, "Only service_role may set a rebuild budget");
});

Deno.test("input: bad JSON, bad fields, bad names and bad routes are clear 4xx errors", async () => {
  const cases: Array<[string, string, unknown, number, string]> = [
    ["POST", "/files", {}, 400, "validation_failed"],
    ["POST", "/files", { filename: "1.jpg", extra: 1 }, 400, "validation_failed"],
    ["POST", "/files", { filename: "a/../b.jpg" }, 400, "invalid_filename"],
    ["POST", "/files", { filename: "notes.txt" }, 400, "invalid_filename"],
    ["GET", "/files?limit=0", undefined, 400, "validation_failed"],
    ["GET", "/files?limit=201", undefined, 400, "validation_failed"],
    ["GET", "/files?colour=red", undefined, 400, "validation_failed"],
    ["GET", "/rebuild/abc", undefined, 400, "validation_failed"],
    ["GET", "/rebuild/987654321", undefined, 404, "not_found"],
    ["POST", "/reconcile", { sampleLimit: -1 }, 400, "validation_failed"],
    ["PUT", "/files", {}, 405, "method_not_allowed"],
    ["GET", "/", undefined, 405, "method_not_allowed"],
    ["GET", "/no-such-route", undefined, 404, "not_found"],
  ];
  for (const [method, path, body, status, code] of cases) {
    const answer = await service(path, { method, body });
    assert.equal(answer.status, status, `${method} ${path}: ${JSON.stringify(answer.body)}`);
    assert.equal(errorOf(answer.body).code, code, `${method} ${path}`);
  }
  const invalidJson = await fetch(`${stackInfo().FUNCTIONS_URL}/s3-image-service/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${stackInfo().ADMIN_TOKEN}` },
    body: "{filename:",
  });
  assert.equal(invalidJson.status, 400);
  assert.equal((await invalidJson.json()).error.code, "invalid_json");
  const named = await service("/files", { body: { filename: 7 } });
  assert.match(errorOf(named.body).message, /^Invalid request body: filename: /);
});

Deno.test("POST /files adds a bucket object with S3's metadata and refuses a phantom", async () => {
  const name = `${P}add.png`;
  const absent = `${P}absent.jpg`;
  await storage.put(name, bodyFor(name), { contentType: "image/png" });
  const head = (await storage.head(name))!;
  const { status, body } = await service("/files", {
    body: { filename: name },
    token: stackInfo().MANAGER_TOKEN,
  });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.checked, true);
  const [row] = await testDb()`
    select size_bytes::int as size, etag, content_type, last_modified
    from s3_image_cache where filename = ${name}`;
  assert.deepEqual(row, {
    size: head.size,
    etag: head.etag,
    content_type: "image/png",
    last_modified: head.lastModified,
  });

  const phantom = await service("/files", { body: { filename: absent } });
  assert.equal(phantom.status, 404);
  assert.equal(errorOf(phantom.body).code, "not_in_bucket");
  const manager = await service("/files", {
    body: { filename: absent, force: true },
    token: stackInfo().MANAGER_TOKEN,
  });
  assert.equal(manager.status, 403, "forcing a phantom entry is for admins");
  const [{ count }] = await testDb()`
    select count(*)::int from s3_image_cache where filename = ${absent}`;
  assert.equal(count, 0);
  const forced = await service("/files", { body: { filename: absent, force: true } });
  assert.equal(forced.status, 200);
  assert.equal(forced.body.checked, false);
  assert.equal(
    (await service(`/files/${encodeURIComponent(absent)}`, { method: "DELETE" })).status,
    200,
  );
  await closeTestDb();
});

Deno.test("DELETE /files/:name removes the entry, and with deleteObject=true the object too", async () => {
  const keep = `${P}keep obj.jpg`;
  const gone = `${P}gone.jpg`;
  await putObjects([keep, gone]);
  for (const filename of [keep, gone]) {
    assert.equal((await service("/files", { body: { filename } })).status, 200);
  }
  const first = await service(`/files/${encodeURIComponent(keep)}`, { method: "DELETE" });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.deepEqual(first.body, { filename: keep, removed: true, objectDeleted: false });
  assert.ok(await storage.head(keep), "the object stays unless asked");

  const both = await service(`/files/${encodeURIComponent(gone)}?deleteObject=true`, {
    method: "DELETE",
  });
  assert.deepEqual(both.body, { filename: gone, removed: true, objectDeleted: true });
  assert.equal(await storage.head(gone), null);
  const again = await service(`/files/${encodeURIComponent(gone)}?deleteObject=true`, {
    method: "DELETE",
  });
  assert.equal(again.status, 404);
  const [{ count }] = await testDb()`
    select count(*)::int from s3_image_cache where filename in (${keep}, ${gone})`;
  assert.equal(count, 0);
  await deleteObjects([keep]);
  await closeTestDb();
});

Deno.test("GET /files pages through a prefix in byte order with working preview URLs", async () => {
  const names = [`${P}list-B.jpg`, `${P}list-a.jpg`, `${P}list-b.png`, `${P}list-c.webp`];
  await putObjects(names);
  for (const filename of names) {
    assert.equal((await service("/files", { body: { filename } })).status, 200);
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = `prefix=${encodeURIComponent(`${P}list-`)}&limit=3` +
      (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "");
    const { status, body } = await service(`/files?${query}`, {
      token: stackInfo().MANAGER_TOKEN,
    });
    assert.equal(status, 200, JSON.stringify(body));
    const files = body.files as Array<{ filename: string; url: string; size_bytes: number }>;
    seen.push(...files.map((f) => f.filename));
    cursor = body.nextCursor as string | null;
    pages++;
    if (pages === 1) {
      const image = await fetch(files[0].url);
      assert.equal(image.status, 200);
      assert.deepEqual(new Uint8Array(await image.arrayBuffer()), bodyFor(files[0].filename));
      assert.match(files[0].url, /X-Amz-Expires=300/);
    }
  } while (cursor);
  assert.equal(pages, 2);
  // Byte order, like S3: upper case before lower case.
  assert.deepEqual(seen, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  assert.equal(seen[0], `${P}list-B.jpg`);
  await closeTestDb();
});

Deno.test("GET /stats reports the index's counters", async () => {
  const { status, body } = await service("/stats", { token: stackInfo().MANAGER_TOKEN });
  assert.equal(status, 200);
  const [{ count }] = await testDb()`select count(*)::int from s3_image_cache`;
  assert.equal(body.count, count);
  assert.equal(typeof body.total_bytes, "number");
  assert.ok("last_rebuild" in body && "running_rebuild" in body);
  await closeTestDb();
});

Deno.test("reconcile reports both directions as a dry run, then applies exactly that", async () => {
  await rebuildToEnd(); // in step with the bucket first
  const newInBucket = [`${P}rc-new-1.jpg`, `${P}rc-new-2.png`, `${P}rc-new-3.gif`];
  const onlyInIndex = [`${P}rc-gone-1.jpg`, `${P}rc-gone-2.jpg`];
  const changed = [`${P}rc-changed.jpg`];
  const refused = [`${P}rc-notes.txt`]; // in the bucket, but not a name the index takes
  await putObjects([...changed, ...onlyInIndex]);
  for (const filename of [...changed, ...onlyInIndex]) {
    assert.equal((await service("/files", { body: { filename } })).status, 200);
  }
  await deleteObjects(onlyInIndex);
  await sleep(1_100); // Last-Modified has one-second precision
  await putObjects(changed, 1);
  await putObjects([...newInBucket, ...refused]);
  await sleep(20); // the index rows above must predate the job
  const before = await indexSnapshot();

  const { status, body } = await untilReconciled(
    await service("/reconcile", { body: { sampleLimit: 1000 } }),
    "?sampleLimit=1000",
  );
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.applied, false);
  const report = body.report as Record<string, unknown>;
  assert.deepEqual(report, {
    job_id: (body.job as Job).id,
    to_insert: 3,
    to_update: 1,
    to_remove: 2,
    skipped: 1,
    missing_from_index: [...newInBucket].sort(),
    missing_from_bucket: onlyInIndex,
    changed,
  });
  assert.deepEqual(await indexSnapshot(), before, "a dry run changes nothing");
  const jobId = (body.job as Job).id;

  // The report stays readable (managers too) until someone applies or supersedes it.
  const review = await service(`/reconcile/${jobId}`, { token: stackInfo().MANAGER_TOKEN });
  assert.equal(review.status, 200);
  assert.equal((review.body.report as { to_insert: number }).to_insert, 3);

  const applied = await service(`/reconcile/${jobId}/apply`, { body: {} });
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  assert.equal(applied.body.applied, true);
  const job = applied.body.job as Job;
  assert.deepEqual(
    {
      status: job.status,
      inserted: job.inserted,
      updated: job.updated,
      removed: job.removed,
      skipped: job.skipped,
    },
    { status: "succeeded", inserted: 3, updated: 1, removed: 2, skipped: 1 },
  );
  await deleteObjects(refused); // later tests count skipped keys of their own
  await assertIndexEqualsBucket();
  const twice = await service(`/reconcile/${jobId}/apply`, { body: {} });
  assert.equal(twice.status, 409);
  await closeTestDb();
});

Deno.test("reconcile with apply: true applies in one call; a rebuild supersedes a dry run", async () => {
  const extra = `${P}rc-direct.jpg`;
  await putObjects([extra]);
  let { status, body } = await untilReconciled(
    await service("/reconcile", { body: { apply: true } }),
  );
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.applied, true);
  assert.equal((body.job as Job).inserted, 1);

  // A dry run waiting for review does not block a rebuild: the rebuild replaces it.
  await deleteObjects([extra]);
  ({ status, body } = await untilReconciled(await service("/reconcile", { body: {} })));
  const dryRun = body.job as Job;
  assert.equal((body.report as { to_remove: number }).to_remove, 1);
  const rebuild = await rebuildToEnd();
  assert.notEqual(rebuild.id, dryRun.id);
  assert.equal(rebuild.removed, 1);
  const old = await service(`/rebuild/${dryRun.id}`);
  assert.equal((old.body.job as Job).status, "cancelled");
  await assertIndexEqualsBucket();
  await closeTestDb();
});
