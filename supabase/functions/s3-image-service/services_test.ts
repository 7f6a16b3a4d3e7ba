import assert from "node:assert/strict";
import { composeFunction } from "./index.ts";
import { buildServices, statusUrl } from "./services.ts";
import { parseConfig } from "../_shared/platform/config.ts";
import { createDb } from "../_shared/platform/db.ts";
import { requestAs, TEST_AUTH_SETTINGS, TEST_KEYS } from "../_shared/auth/testdata/test_callers.ts";
import { VALID_FUNCTION_ENV } from "../../../tests/support/env.ts";

/** The environment hosted Supabase would inject for the unit tests' project, plus `vars`. */
const envWith = (vars: Record<string, string | undefined>) => ({
  ...VALID_FUNCTION_ENV,
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: TEST_KEYS.publishable }),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: TEST_KEYS.secret }),
  LEGACY_JWT_SECRET: TEST_KEYS.legacyJwtSecret,
  ...vars,
});

Deno.test("buildServices() wires the function from the configuration without contacting S3 or Postgres", async () => {
  const config = parseConfig(envWith({ SUPABASE_URL: "https://ref.supabase.co/" }));
  const sql = createDb(config);
  try {
    const services = buildServices({ config, sql, auth: TEST_AUTH_SETTINGS });
    assert.equal(services.functionUrl, "https://ref.supabase.co/functions/v1/s3-image-service");
    assert.equal(
      statusUrl(services, "rebuild", 5),
      "https://ref.supabase.co/functions/v1/s3-image-service/rebuild/5",
    );
  } finally {
    await sql.end({ timeout: 1 });
  }
});

Deno.test("statusUrl() is relative to the host when SUPABASE_URL is unknown", () => {
  assert.equal(statusUrl({}, "reconcile", 7), "/functions/v1/s3-image-service/reconcile/7");
});

Deno.test("a missing setting answers 500 misconfigured naming the variable, never its value", async () => {
  const fetch = composeFunction(envWith({ S3_BUCKET: undefined }));
  const url = "https://ref.supabase.co/functions/v1/s3-image-service/stats";
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await fetch(await requestAs("manager", "GET", url));
    assert.equal(response.status, 500, "every request is told, not just the first");
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    const { error } = await response.json();
    assert.equal(error.code, "misconfigured");
    assert.match(error.message, /S3_BUCKET is not set/);
    assert.doesNotMatch(error.message, /unit-test-secret/);
  }
});

Deno.test("a bad setting never opens the door: a caller without credentials is still 401", async () => {
  const fetch = composeFunction(envWith({ S3_BUCKET: undefined }));
  const response = await fetch(
    new Request("https://ref.supabase.co/functions/v1/s3-image-service/stats"),
  );
  assert.equal(response.status, 401);
  await response.body?.cancel();
});

Deno.test("GET /health reports a bad setting by name to a signed-in caller", async () => {
  const fetch = composeFunction(envWith({ AWS_ACCESS_KEY: undefined }));
  const response = await fetch(
    await requestAs("admin", "GET", "https://ref.supabase.co/functions/v1/s3-image-service/health"),
  );
  assert.equal(response.status, 500);
  const body = await response.json();
  assert.equal(body.role, "admin");
  assert.match(body.configuration, /AWS_ACCESS_KEY is not set/);
});
