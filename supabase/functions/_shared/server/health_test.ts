import assert from "node:assert/strict";
import { healthResponse, runChecks } from "./health.ts";
import type { CallerRole } from "../auth/roles.ts";
import { describeDbFailure } from "../platform/db_errors.ts";
import { describeS3Failure } from "../platform/s3_errors.ts";

const describe = (_: string, error: unknown) => `failed: ${(error as Error).message}`;

Deno.test("runChecks() answers ok for healthy checks and names the one that failed", async () => {
  const results = await runChecks({
    bucket: () => Promise.reject(new Error("NoSuchBucket")),
    database: () => Promise.resolve(),
  }, describe);
  assert.deepEqual(results, { bucket: "failed: NoSuchBucket", database: "ok" });
});

Deno.test("runChecks() gives up on a check that does not answer, and aborts it", async () => {
  let aborted = false;
  const results = await runChecks(
    {
      database: (signal) =>
        new Promise((resolve) =>
          signal.addEventListener("abort", () => (aborted = true, resolve()))
        ),
      bucket: () => Promise.resolve(),
    },
    describe,
    20,
  );
  assert.deepEqual(results, { database: "no answer within 0.02 s", bucket: "ok" });
  assert.equal(aborted, true);
});

Deno.test("describeS3Failure() says what to check without any secret", () => {
  const failure = (name: string, status?: number) =>
    Object.assign(new Error(`${name} AKIASECRET sig=abcd`), {
      name,
      $metadata: { httpStatusCode: status },
    });
  assert.equal(
    describeS3Failure(failure("NotFound", 404), "images"),
    'bucket "images" was not found (404): check S3_BUCKET, AWS_REGION and S3_ENDPOINT',
  );
  const denied = describeS3Failure(failure("Forbidden", 403), "images");
  assert.match(denied, /^access to bucket "images" was refused \(403\)/);
  assert.doesNotMatch(denied, /AKIASECRET|sig=/);
  assert.equal(
    describeS3Failure(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), "images"),
    "the S3 endpoint is unreachable (ECONNREFUSED)",
  );
});

Deno.test("describeDbFailure() names the SQLSTATE or network code, never the URL", () => {
  const error = (code: string) =>
    Object.assign(new Error("postgresql://postgres:hunter2@db.example.com failed"), { code });
  assert.equal(
    describeDbFailure(error("ECONNREFUSED")),
    "the database is unreachable (ECONNREFUSED)",
  );
  assert.match(describeDbFailure(error("28P01")), /refused our login \(28P01\)/);
  for (const code of ["ECONNREFUSED", "28P01", "XX000", ""]) {
    assert.doesNotMatch(describeDbFailure(error(code)), /hunter2|db\.example\.com/);
  }
});

Deno.test("healthResponse() runs the deep checks for an admin or the secret key only; others get the shallow answer", async () => {
  let runs = 0;
  const checks = () => ({
    bucket: {
      run: () => (runs++, Promise.reject(new Error("403"))),
      describe: () => 'access to bucket "private-bucket-name" was refused (403)',
    },
  });
  const ask = async (role: CallerRole) => {
    const response = await healthResponse(
      new Request("https://ref.supabase.co/functions/v1/fn/health?deep=true"),
      { functionName: "fn", caller: { role, id: role, claims: {} }, checks },
    );
    return { status: response.status, body: await response.json() };
  };
  for (const role of ["anon", "authenticated", "manager"] as const) {
    const { status, body } = await ask(role);
    assert.equal(status, 200, role);
    assert.equal(body.checks, undefined, role);
    assert.doesNotMatch(JSON.stringify(body), /private-bucket-name/, role);
  }
  assert.equal(runs, 0, "no bucket call for a caller who may not see the answer");
  for (const role of ["admin", "service_role"] as const) {
    const { status, body } = await ask(role);
    assert.equal(status, 503, role);
    assert.match(body.checks.bucket, /private-bucket-name/);
  }
  assert.equal(runs, 2);
});
