/**
 * `GET /<function>/health?deep=true` against the real bucket (emulator) and database: what the
 * deploy script's smoke test reads after every deployment.
 */
import assert from "node:assert/strict";
import { clearS3Faults, injectS3Fault } from "../support/s3.ts";
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
    await injectS3Fault({ operation: "bucket", status: 403, code: "AccessDenied", remaining: 1 });
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
      await clearS3Faults();
    }
  });
}

Deno.test("deep health is 503 naming the bucket when the S3 endpoint drops the connection", async () => {
  await injectS3Fault({ operation: "bucket", reset: true, remaining: 1 });
  try {
    const { status, body } = await callFunction("s3-image-service/health?deep=true", {
      token: stackInfo().ADMIN_TOKEN,
    });
    assert.equal(status, 503, JSON.stringify(body));
    const checks = body.checks as Record<string, string>;
    assert.match(checks.bucket, /^the S3 endpoint is unreachable/);
    assert.equal(checks.database, "ok");
  } finally {
    await clearS3Faults();
  }
});

Deno.test("plain health makes no dependency check", async () => {
  await injectS3Fault({ operation: "bucket", status: 403, code: "AccessDenied", remaining: 1 });
  try {
    const { status, body } = await callFunction("upload-to-s3/health", {
      token: stackInfo().ANON_KEY,
    });
    assert.equal(status, 200);
    assert.equal(body.checks, undefined);
  } finally {
    await clearS3Faults();
  }
});
