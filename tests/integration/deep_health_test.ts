/**
 * `GET /<function>/health?deep=true` against the real bucket (emulator) and database: what the
 * deploy script's smoke test reads after every deployment. S3 failures come from the stack's
 * fault proxy between the functions and the emulator (tests/support/faults.ts); each test
 * removes its rules, whatever happened.
 */
import assert from "node:assert/strict";
import { addS3Fault, clearS3ProxyFaults, s3Faults } from "../support/faults.ts";
import { callFunction, stackInfo } from "../support/stack.ts";

const FUNCTIONS = ["upload-to-s3", "s3-image-service"];

for (const name of FUNCTIONS) {
  Deno.test(`${name}: deep health checks the bucket and the database`, async () => {
    const { status, body } = await callFunction(`${name}/health?deep=true`, {
      token: stackInfo().ADMIN_TOKEN,
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body, {
      ok: true,
      function: name,
      role: "admin",
      checks: { bucket: "ok", database: "ok" },
    });
    // The public key alone gets the shallow answer: no bucket call, no bucket name.
    const anon = await callFunction(`${name}/health?deep=true`, { token: stackInfo().ANON_KEY });
    assert.deepEqual(anon.body, { ok: true, function: name, role: "anon" });
  });

  Deno.test(`${name}: deep health is 503 naming the bucket when S3 refuses our key`, async () => {
    await addS3Fault({ operation: "bucket", status: 403, code: "AccessDenied", remaining: 1 });
    try {
      const { status, body } = await callFunction(`${name}/health?deep=true`, {
        token: stackInfo().ADMIN_TOKEN,
      });
      assert.equal(status, 503, JSON.stringify(body));
      assert.equal(body.ok, false);
      const checks = body.checks as Record<string, string>;
      assert.equal(checks.database, "ok");
      assert.match(checks.bucket, /^access to bucket "product-images" was refused \(403\)/);
      const text = JSON.stringify(body);
      for (const secret of [stackInfo().AWS_SECRET_ACCESS_KEY, stackInfo().AWS_ACCESS_KEY]) {
        assert.ok(!text.includes(secret), "no credential in the answer");
      }
    } finally {
      await clearS3ProxyFaults();
    }
  });
}

Deno.test("deep health is 503 naming the bucket when the S3 endpoint drops the connection", async () => {
  await addS3Fault({ operation: "bucket", reset: true, remaining: 1 });
  try {
    const { status, body } = await callFunction("s3-image-service/health?deep=true", {
      token: stackInfo().ADMIN_TOKEN,
    });
    assert.equal(status, 503, JSON.stringify(body));
    const checks = body.checks as Record<string, string>;
    assert.match(checks.bucket, /^the S3 endpoint is unreachable/);
    assert.equal(checks.database, "ok");
  } finally {
    await clearS3ProxyFaults();
  }
});

Deno.test("plain health makes no dependency check", async () => {
  await addS3Fault({ operation: "bucket", status: 403, code: "AccessDenied", remaining: 1 });
  try {
    const { status, body } = await callFunction("upload-to-s3/health", {
      token: stackInfo().ANON_KEY,
    });
    assert.equal(status, 200);
    assert.equal(body.checks, undefined);
    assert.equal((await s3Faults())[0].hits, 0, "S3 was not asked");
  } finally {
    await clearS3ProxyFaults();
  }
});
