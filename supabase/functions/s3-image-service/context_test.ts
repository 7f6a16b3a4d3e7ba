import assert from "node:assert/strict";
import service from "./index.ts";
import { serviceContext, setServiceContextForTests, statusUrl } from "./context.ts";
import { resetConfigForTests } from "../_shared/platform/config.ts";
import { requestAs, setTestAuthEnv } from "../../../tests/support/unit_fakes.ts";
import { VALID_FUNCTION_ENV, withEnv } from "../../../tests/support/env.ts";

setTestAuthEnv();

const fresh = () => {
  resetConfigForTests();
  setServiceContextForTests(undefined);
};

Deno.test("serviceContext() is built from the configuration once, without contacting S3 or Postgres", async () => {
  fresh();
  await withEnv({ ...VALID_FUNCTION_ENV, SUPABASE_URL: "https://ref.supabase.co/" }, () => {
    const context = serviceContext();
    assert.equal(serviceContext(), context, "built once per process");
    assert.equal(context.config.S3_BUCKET, "unit-test-bucket");
    assert.equal(
      statusUrl("rebuild", 5),
      "https://ref.supabase.co/functions/v1/s3-image-service/rebuild/5",
    );
    return Promise.resolve();
  });
});

Deno.test("statusUrl() is relative to the host when SUPABASE_URL is unknown", async () => {
  fresh();
  await withEnv({ ...VALID_FUNCTION_ENV, SUPABASE_URL: undefined }, () => {
    assert.equal(statusUrl("reconcile", 7), "/functions/v1/s3-image-service/reconcile/7");
    return Promise.resolve();
  });
});

Deno.test("a missing setting answers 500 misconfigured naming the variable, never its value", async () => {
  fresh();
  await withEnv({ ...VALID_FUNCTION_ENV, S3_BUCKET: undefined }, async () => {
    const response = await service.fetch(
      await requestAs(
        "manager",
        "GET",
        "https://ref.supabase.co/functions/v1/s3-image-service/stats",
      ),
    );
    assert.equal(response.status, 500);
    const { error } = await response.json();
    assert.equal(error.code, "misconfigured");
    assert.match(error.message, /S3_BUCKET is not set/);
    assert.doesNotMatch(error.message, /unit-test-secret/);
  });
  fresh();
});
