/**
 * Promises of docs/upload.md and docs/s3-image-service.md that no other test held to: the
 * `rebuild_running` 409s, 404/409 for jobs of the wrong kind or state, a stalled job picked up
 * by each route the docs name, `storage_unavailable` and `database_unavailable` over HTTP,
 * confirm's empty / oversize / 5xx cases, `replace=1|yes|on`, and upgrading in place from the
 * original system's table. Jobs that must not run are created through the SQL API with a live
 * lease held by a worker that does not exist, so no route drives them.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { REPO_ROOT } from "../../scripts/stack/migrations.ts";
import { applyMigrations } from "../../scripts/stack/migrations.ts";
import { freePort, run } from "../../scripts/stack/process.ts";
import { withOwnFunction } from "../support/own_function.ts";
import { samplePng } from "../../scripts/lib/png.ts";
import { bucketKeys, createBucket } from "../support/bucket.ts";
import { closeTestDb, testDb } from "../support/db.ts";
import { addS3Fault, clearS3ProxyFaults, dbProxyState } from "../support/faults.ts";
import { testStorage } from "../support/s3.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { indexSnapshot, service, sleep } from "./service_support.ts";

const P = `pr${crypto.randomUUID().slice(0, 6)}-`;
const errorCode = (body: Record<string, unknown>) => (body.error as { code?: string })?.code;

/** Starts a job through the SQL API; `hold`: a live lease by an absent worker, so none drives it. */
async function sqlJob(mode: "rebuild" | "reconcile", hold: boolean): Promise<number> {
  const [{ id }] = await testDb()`
    select (public.s3_cache_rebuild_start(${`promises ${P}`}, ${mode}) -> 'job' ->> 'id')::bigint
      as id`;
  const [{ running }] = await testDb()`
    select status = 'running' as running from public.s3_cache_rebuilds where id = ${id}`;
  assert.ok(running, "no other job was running");
  if (hold) await testDb()`select public.s3_cache_rebuild_claim(${id}, 'absent-worker', 600)`;
  return Number(id);
}

/** Polls the job row in SQL (a GET would itself pick the job up) until `done` or 60 s. */
async function waitInSql(id: number, done: (job: Record<string, unknown>) => boolean) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [job] = await testDb()`select * from public.s3_cache_rebuilds where id = ${id}`;
    if (done(job)) return job;
    assert.ok(Date.now() < deadline, `job ${id} did not get there: ${JSON.stringify(job)}`);
    await sleep(200);
  }
}

Deno.test("rebuild_running: a reconcile while a rebuild runs, and a rebuild while a reconcile lists, are 409", async () => {
  const before = await indexSnapshot();
  const rebuild = await sqlJob("rebuild", true);
  try {
    const reconcile = await service("/reconcile", { body: {} });
    assert.equal(reconcile.status, 409, JSON.stringify(reconcile.body));
    assert.equal(errorCode(reconcile.body), "rebuild_running");
    assert.ok(reconcile.headers.get("access-control-allow-origin"));
  } finally {
    const cancelled = await service(`/rebuild/${rebuild}/cancel`, { body: {} });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  }
  const listing = await sqlJob("reconcile", true);
  try {
    for (const path of ["/rebuild", "/"]) {
      const started = await service(path, { body: {} });
      assert.equal(started.status, 409, `${path}: ${JSON.stringify(started.body)}`);
      assert.equal(errorCode(started.body), "rebuild_running", path);
    }
  } finally {
    await service(`/rebuild/${listing}/cancel`, { body: {} });
  }
  assert.deepEqual(await indexSnapshot(), before, "the index is exactly as it was");
  await closeTestDb();
});

Deno.test("jobs of the wrong kind or state: reconcile routes 404 for a rebuild, cancel and apply 409 once ended", async () => {
  const id = await sqlJob("rebuild", true);
  const asReconcile = await service(`/reconcile/${id}`);
  assert.equal(asReconcile.status, 404, JSON.stringify(asReconcile.body));
  assert.equal(errorCode(asReconcile.body), "not_found");
  assert.equal((await service(`/rebuild/${id}/cancel`, { body: {} })).status, 200);
  const again = await service(`/rebuild/${id}/cancel`, { body: {} });
  assert.equal(again.status, 409);
  assert.equal(errorCode(again.body), "conflict");
  const apply = await service(`/reconcile/${id}/apply`, { body: {} });
  assert.equal(apply.status, 409, JSON.stringify(apply.body));
  await closeTestDb();
});

for (
  const [route, call] of [
    ["GET /rebuild", () => service("/rebuild")],
    ["GET /rebuild/:id", (id: number) => service(`/rebuild/${id}`)],
    ["POST /rebuild", () => service("/rebuild", { body: {} })],
    ["POST /", () => service("/", { body: {} })],
  ] as const
) {
  Deno.test(`lease pickup: ${route} hands a stalled rebuild to a new worker, which finishes it`, async () => {
    const id = await sqlJob("rebuild", false); // started, never driven: as if its worker died
    const { status, body } = await call(id);
    assert.ok(status === 200 || status === 202, JSON.stringify(body));
    const job = await waitInSql(id, (j) => j.status !== "running");
    assert.equal(job.status, "succeeded", JSON.stringify(job));
    assert.ok((job.invocations as unknown[]).length >= 1, "a worker ran it");
    await closeTestDb();
  });
}

Deno.test("lease pickup: GET /reconcile/:id hands a stalled reconcile to a new worker, which lists it", async () => {
  const id = await sqlJob("reconcile", false);
  const { status, body } = await service(`/reconcile/${id}`);
  assert.ok(status === 200 || status === 202, JSON.stringify(body));
  const job = await waitInSql(id, (j) => j.listing_complete === true || j.status !== "running");
  assert.equal(job.status, "running", "a reconcile waits for review once listed");
  assert.equal((await service(`/rebuild/${id}/cancel`, { body: {} })).status, 200);
  await closeTestDb();
});

function upload(bytes: Uint8Array, name: string, replace?: string) {
  const form = new FormData();
  form.set("file", new File([bytes as Uint8Array<ArrayBuffer>], name));
  if (replace !== undefined) form.set("replace", replace);
  return callFunction("upload-to-s3", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    body: form,
  });
}

const indexed = async (name: string) =>
  (await testDb()`select etag from public.s3_image_cache where filename = ${name}`)[0]?.etag;

Deno.test("replace: 1, yes and on (any case) overwrite; 0, no, off and false answer 409", async () => {
  const name = `${P}replace.png`;
  let version = 1;
  const first = await upload(samplePng(version), name);
  assert.equal(first.status, 201);
  for (const refused of ["0", "no", "off", "false", "nope"]) {
    const answer = await upload(samplePng(100), name, refused);
    assert.equal(answer.status, 409, `replace=${refused}`);
    assert.equal(errorCode(answer.body), "already_exists");
  }
  for (const accepted of ["1", "yes", "on", "YES", " On "]) {
    version++;
    const answer = await upload(samplePng(version), name, accepted);
    assert.equal(answer.status, 201, `replace=${accepted}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.replaced, true, `replace=${accepted}`);
    assert.equal(await indexed(name), answer.body.etag);
  }
  await closeTestDb();
});

Deno.test("storage_unavailable over HTTP: an upload whose S3 write keeps failing is 503 and indexes nothing", async () => {
  const name = `${P}s3-down.png`;
  await addS3Fault({
    operation: "put",
    keyPrefix: name,
    status: 500,
    code: "InternalError",
    remaining: 50,
  });
  try {
    const { status, body, headers } = await upload(samplePng(7), name);
    assert.equal(status, 503, JSON.stringify(body));
    assert.equal(errorCode(body), "storage_unavailable");
    assert.ok(headers.get("access-control-allow-origin"));
    assert.doesNotMatch(JSON.stringify(body), /InternalError|stack|at /, "no internals");
  } finally {
    await clearS3ProxyFaults();
  }
  assert.equal(await indexed(name), undefined);
  assert.deepEqual(await bucketKeys(name), []);

  await addS3Fault({
    operation: "head",
    keyPrefix: `${P}head-down.jpg`,
    status: 503,
    code: "SlowDown",
    remaining: 50,
  });
  try {
    const added = await service("/files", { body: { filename: `${P}head-down.jpg` } });
    assert.equal(added.status, 503, JSON.stringify(added.body));
    assert.equal(errorCode(added.body), "storage_unavailable");
  } finally {
    await clearS3ProxyFaults();
  }
  assert.equal(await indexed(`${P}head-down.jpg`), undefined);
  await closeTestDb();
});

Deno.test({
  name:
    "database_unavailable over HTTP: with the database closed to new connections, reads and writes answer 503",
  // "database is not currently accepting connections" is SQLSTATE 55000, which our SQL API also
  // uses for a job that moved on: the transport reports a refusal at connection start-up as its
  // own error type (db_socket.ts StartupRefusedError), and db_errors.ts tells them apart by it.
  fn: databaseUnavailable,
});

async function databaseUnavailable() {
  // A database cannot refuse connections to itself from its own session: steer it from another.
  const url = new URL(stackInfo().DB_URL);
  const database = url.pathname.slice(1);
  url.pathname = "/template1";
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  await closeTestDb();
  const before = await dbProxyState();
  const connectionsBefore = before.accepted + before.refused;
  await admin.unsafe(`alter database ${database} with allow_connections false`);
  try {
    // The functions' pooled connections go too, as when the database restarts.
    await admin`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = ${database} and backend_type = 'client backend'`;
    const stats = await service("/stats");
    assert.equal(stats.status, 503, JSON.stringify(stats.body));
    assert.equal(errorCode(stats.body), "database_unavailable");
    assert.ok(stats.headers.get("access-control-allow-origin"));
    const added = await service("/files", { body: { filename: `${P}db-down.jpg`, force: true } });
    assert.equal(added.status, 503, JSON.stringify(added.body));
    assert.equal(errorCode(added.body), "database_unavailable");
    // Each refused request costs a few connection attempts, not a reconnect storm (postgres.js
    // alone reconnects forever at hundreds a second: platform/db_socket.ts).
    await sleep(2_000);
    const state = await dbProxyState();
    const attempts = state.accepted + state.refused - connectionsBefore;
    assert.ok(attempts < 100, `${attempts} connection attempts while the database refused`);
  } finally {
    await admin.unsafe(`alter database ${database} with allow_connections true`);
    await admin.end({ timeout: 5 });
  }
  // Back once Postgres is: the next call works without a restart.
  const deadline = Date.now() + 30_000;
  let stats = await service("/stats");
  while (stats.status !== 200 && Date.now() < deadline) {
    await sleep(500);
    stats = await service("/stats");
  }
  assert.equal(stats.status, 200, JSON.stringify(stats.body));
  assert.equal(await indexed(`${P}db-down.jpg`), undefined, "nothing was written");
  await closeTestDb();
}

Deno.test({
  name:
    "misconfigured over HTTP: a function with a bad setting answers 500 naming the variable, and writes nothing",
  sanitizeResources: false,
  async fn() {
    const info = stackInfo();
    for (const name of ["upload-to-s3", "s3-image-service"]) {
      // S3_BUCKET too short to be a bucket name; everything else right.
      await withOwnFunction(name, { S3_BUCKET: "x" }, async (base) => {
        const health = await fetch(`${base}/health`, { headers: { apikey: info.SECRET_KEY } });
        const report = await health.json();
        assert.equal(health.status, 500, JSON.stringify(report));
        assert.equal(report.ok, false);
        assert.match(report.configuration, /S3_BUCKET/);
        assert.doesNotMatch(JSON.stringify(report), new RegExp(info.AWS_SECRET_ACCESS_KEY));

        const form = new FormData();
        form.set("file", new File([samplePng(41) as Uint8Array<ArrayBuffer>], `${P}conf.png`));
        const request = name === "upload-to-s3"
          ? new Request(base, { method: "POST", body: form })
          : new Request(`${base}/stats`);
        request.headers.set("apikey", info.SECRET_KEY);
        const response = await fetch(request);
        const body = await response.json();
        assert.equal(response.status, 500, `${name}: ${JSON.stringify(body)}`);
        assert.equal(errorCode(body), "misconfigured");
        assert.match(body.error.message, /S3_BUCKET/, "the message names the variable");
        assert.doesNotMatch(body.error.message, new RegExp(info.AWS_SECRET_ACCESS_KEY));
        assert.ok(response.headers.get("access-control-allow-origin"), "CORS on the 500");
      });
    }
    assert.equal(await indexed(`${P}conf.png`), undefined);
    assert.deepEqual(await bucketKeys(`${P}conf.png`), []);
    await closeTestDb();
  },
});

Deno.test({
  name:
    "database_unavailable over HTTP: with its Postgres refusing connections (nothing listening), s3-image-service answers 503",
  sanitizeResources: false,
  async fn() {
    const info = stackInfo();
    const closed = new URL(info.DB_URL);
    closed.port = String(freePort()); // nothing listens there: connection refused
    await withOwnFunction(
      "s3-image-service",
      { SUPABASE_DB_URL: closed.toString() },
      async (base) => {
        const requests = [
          new Request(`${base}/stats`),
          new Request(`${base}/files`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ filename: `${P}db-down.jpg`, force: true }),
          }),
        ];
        for (const request of requests) {
          request.headers.set("apikey", info.SECRET_KEY);
          const response = await fetch(request);
          const body = await response.json();
          const label = `${request.method} ${new URL(request.url).pathname}`;
          assert.equal(response.status, 503, `${label}: ${JSON.stringify(body)}`);
          assert.equal(errorCode(body), "database_unavailable", label);
          assert.ok(response.headers.get("access-control-allow-origin"), "CORS on the 503");
          assert.doesNotMatch(JSON.stringify(body), /ECONNREFUSED|127\.0\.0\.1/, "no internals");
        }
      },
    );
    assert.equal(await indexed(`${P}db-down.jpg`), undefined);
    await closeTestDb();
  },
});

Deno.test({
  name:
    "an empty listing over a full index (a wrong S3_BUCKET) is held as needs_confirmation, index untouched",
  sanitizeResources: false,
  async fn() {
    // The function pointed at another, empty bucket: the listing finds nothing at all.
    const empty = `empty-${P.slice(2, 8)}`;
    await createBucket(empty);
    const ghosts = [`${P}held-1.jpg`, `${P}held-2.jpg`, `${P}held-3.jpg`];
    await testDb()`select public.add_files_to_s3_cache(${ghosts}::text[])`;
    const before = await indexSnapshot();
    try {
      await withOwnFunction("s3-image-service", { S3_BUCKET: empty }, async (base) => {
        const response = await fetch(`${base}/`, {
          method: "POST",
          headers: { apikey: stackInfo().SECRET_KEY, "content-type": "application/json" },
          body: "{}",
        });
        const body = await response.json();
        assert.equal(response.status, 409, JSON.stringify(body));
        assert.equal(errorCode(body), "needs_confirmation");
        const job = body.error.details.job;
        assert.equal(job.status, "needs_confirmation");
        assert.equal(job.listed, 0, "the listing was empty");
        assert.equal(job.summary.guard.would_remove, job.summary.guard.index_count);
      });
      assert.deepEqual(await indexSnapshot(), before, "the index is exactly as it was");
    } finally {
      await testDb()`delete from public.s3_image_cache where filename = any(${ghosts}::text[])`;
    }
    await closeTestDb();
  },
});

async function prepare(name: string, size: number) {
  const prepared = await callFunction("upload-to-s3/direct", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ filename: name, contentType: "image/png", size }),
  });
  assert.equal(prepared.status, 200, JSON.stringify(prepared.body));
  return prepared.body as {
    uploadUrl: string;
    headers: Record<string, string>;
    stagingKey: string;
  };
}

/** PUTs `bytes` to the presigned URL (they must have the signed type and length). */
async function putStaged(url: string, headers: Record<string, string>, bytes: Uint8Array) {
  const put = await fetch(url, { method: "PUT", headers, body: bytes as Uint8Array<ArrayBuffer> });
  await put.body?.cancel();
  assert.equal(put.status, 200);
}

const confirm = (stagingKey: string) =>
  callFunction("upload-to-s3/direct/confirm", {
    method: "POST",
    token: stackInfo().MANAGER_TOKEN,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ stagingKey }),
  });

Deno.test("confirm: an empty staged file is 400 empty_file, an oversize one 413; both deleted, nothing published", async () => {
  const cases: Array<[string, Uint8Array, number, number, string]> = [
    [`${P}empty.png`, new Uint8Array(0), 10, 400, "empty_file"],
    [`${P}huge.png`, new Uint8Array(10 * 1024 * 1024 + 1), 100, 413, "payload_too_large"],
  ];
  for (const [name, bytes, declared, status, code] of cases) {
    const ticket = await prepare(name, declared);
    // S3 (and the emulator) refuse a presigned PUT of another length than signed; written out of
    // band, as a store that checks no signature would take it, the confirm must still refuse it.
    await testStorage().put(ticket.stagingKey, bytes, { contentType: "image/png" });
    const { status: got, body } = await confirm(ticket.stagingKey);
    assert.equal(got, status, `${name}: ${JSON.stringify(body)}`);
    assert.equal(errorCode(body), code, name);
    assert.deepEqual(await bucketKeys(ticket.stagingKey), [], `${name}: staging object deleted`);
    assert.deepEqual(await bucketKeys(name), [], `${name}: nothing published`);
    assert.equal(await indexed(name), undefined);
  }
  await closeTestDb();
});

Deno.test("confirm: S3 failing mid-confirm is 503 storage_unavailable, the staged file is kept and the same confirm then works", async () => {
  const name = `${P}retry.png`;
  const bytes = samplePng(31);
  const ticket = await prepare(name, bytes.length);
  await putStaged(ticket.uploadUrl, ticket.headers, bytes);
  // Every request on the staged object fails (the check's HEAD and GET, the clean-up's DELETE).
  await addS3Fault({
    keyPrefix: ticket.stagingKey,
    status: 500,
    code: "InternalError",
    remaining: 50,
  });
  try {
    const failed = await confirm(ticket.stagingKey);
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.equal(errorCode(failed.body), "storage_unavailable");
  } finally {
    await clearS3ProxyFaults();
  }
  assert.deepEqual(await bucketKeys(ticket.stagingKey), [ticket.stagingKey], "staging kept");
  assert.deepEqual(await bucketKeys(name), []);
  const retried = await confirm(ticket.stagingKey);
  assert.equal(retried.status, 201, JSON.stringify(retried.body));
  assert.equal(await indexed(name), retried.body.etag);
  assert.deepEqual(await bucketKeys(ticket.stagingKey), [], "staging cleared after publishing");
  await closeTestDb();
});

Deno.test("upgrade in place: the original system's table keeps its rows and the SQL API works on it", async () => {
  const info = stackInfo();
  const database = `upgrade_${P.slice(2, 8)}`;
  await testDb().unsafe(`create database ${database}`);
  const url = info.DB_URL.replace(/\/[^/?]+(\?|$)/, `/${database}$1`);
  const psql = (command: string) =>
    run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command]);
  try {
    await run([
      "psql",
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-d",
      url,
      "-f",
      `${REPO_ROOT}scripts/stack/supabase_bootstrap.sql`,
    ]);
    // The original script, as its documentation describes it: serial id, varchar(255) name,
    // timestamps without time zone (nullable), an index on created_at, a varchar add function.
    await psql(`
      create table public.s3_image_cache (
        id serial primary key,
        filename varchar(255) not null unique,
        created_at timestamp default now(),
        updated_at timestamp default now()
      );
      create index on public.s3_image_cache (created_at);
      create function public.add_file_to_s3_cache(filename varchar) returns text
      language plpgsql as $f$
      begin
        insert into public.s3_image_cache as c (filename) values (add_file_to_s3_cache.filename)
        on conflict on constraint s3_image_cache_filename_key do update set updated_at = now();
        return 'SUCCESS';
      end $f$;
      insert into public.s3_image_cache (filename, created_at, updated_at)
        select g || '.jpg', '2025-10-02 12:00', null from generate_series(14000, 14199) as g;
      select public.add_file_to_s3_cache('legacy.png');`);
    await applyMigrations(url);
    const count = await psql("select count(*) from public.s3_image_cache");
    assert.equal(count.stdout.trim(), "201", "every original row kept");
    const types = await psql(`
      select string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', '
        order by column_name)
      from information_schema.columns
      where table_schema = 'public' and table_name = 's3_image_cache'
        and column_name in ('created_at', 'updated_at')`);
    assert.equal(
      types.stdout.trim(),
      "created_at timestamp with time zone NO, updated_at timestamp with time zone NO",
    );
    // Separate statements: within one, the lookup would not see the add's row.
    assert.equal(
      (await psql("select public.add_file_to_s3_cache('14200.jpg')")).stdout.trim(),
      "SUCCESS",
    );
    const api = await psql(`
      select (select count(*) from public.lookup_s3_cache(array['14000.jpg', '14200.jpg', 'x.jpg']))
        || ' ' || (public.s3_cache_stats() ->> 'count')`);
    assert.equal(api.stdout.trim(), "2 202");
    const kept = await psql(
      "select created_at = '2025-10-02 12:00'::timestamp from public.s3_image_cache where filename = '14000.jpg'",
    );
    assert.equal(kept.stdout.trim(), "t", "original timestamps kept as they meant");
  } finally {
    await testDb().unsafe(`drop database if exists ${database} with (force)`);
    await closeTestDb();
  }
});

// Teardown, not a counted test: this file's objects and rows go whatever happened above.
Deno.test.afterAll(async () => {
  for (const key of await bucketKeys(P)) {
    await callFunction(`s3-image-service/files/${encodeURIComponent(key)}?deleteObject=true`, {
      method: "DELETE",
      token: stackInfo().SERVICE_ROLE_KEY,
    });
  }
  await testDb()`delete from public.s3_image_cache where starts_with(filename, ${P})`;
  assert.deepEqual(await bucketKeys(P), []);
  await closeTestDb();
});
