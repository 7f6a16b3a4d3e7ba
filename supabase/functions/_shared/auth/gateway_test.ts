/**
 * The gateway's `verify_jwt` is off for both functions (it would refuse the `sb_secret_…` key the
 * rebuild calls itself with, and it cannot check every token kind), so each function must refuse
 * unverified callers itself: this pins both halves of that bargain.
 */
import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { SignJWT } from "jose";
import { composeFunction as composeUpload } from "../../upload-to-s3/index.ts";
import { composeFunction as composeService } from "../../s3-image-service/index.ts";
import { TEST_KEYS } from "./testdata/test_callers.ts";
import { VALID_FUNCTION_ENV } from "../../../../tests/support/env.ts";

/** What hosted Supabase injects for the unit tests' project, plus a valid configuration. */
const ENV = {
  ...VALID_FUNCTION_ENV,
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: TEST_KEYS.publishable }),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: TEST_KEYS.secret }),
  LEGACY_JWT_SECRET: TEST_KEYS.legacyJwtSecret,
};

/** Each function as its composition root builds it from the environment. */
const FUNCTIONS = {
  "upload-to-s3": { fetch: composeUpload(ENV) },
  "s3-image-service": { fetch: composeService(ENV) },
};
/** A route of each function that needs a role. */
const GUARDED_PATH: Record<string, string> = { "upload-to-s3": "", "s3-image-service": "/rebuild" };

Deno.test("config.toml turns the gateway's verify_jwt off for both functions", async () => {
  const config = parseToml(
    await Deno.readTextFile(new URL("../../../config.toml", import.meta.url)),
  ) as { functions: Record<string, { verify_jwt?: boolean }> };
  for (const name of Object.keys(FUNCTIONS)) {
    assert.equal(config.functions[name]?.verify_jwt, false, name);
  }
});

Deno.test("with verify_jwt off, each function refuses missing, forged and foreign credentials itself", async () => {
  const now = Math.floor(Date.now() / 1000);
  const forged = await new SignJWT({ role: "service_role", sub: "x", exp: now + 60 })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode("not-the-project-secret-but-long-enough-to-sign"));
  const unsigned = `${btoa(JSON.stringify({ alg: "none" }))}.${
    btoa(JSON.stringify({ role: "service_role", exp: now + 60 }))
  }.`;
  const attempts: Array<[string, Record<string, string>, string]> = [
    ["no credentials", {}, "unauthorized"],
    ["forged service_role token", { authorization: `Bearer ${forged}` }, "invalid_token"],
    ["alg none", { authorization: `Bearer ${unsigned}` }, "invalid_token"],
    [
      "another project's key",
      { apikey: TEST_KEYS.secret.replace("UNIT", "EVIL") },
      "invalid_token",
    ],
  ];
  for (const [name, fn] of Object.entries(FUNCTIONS)) {
    for (const [label, headers, code] of attempts) {
      const response = await fn.fetch(
        new Request(`https://ref.supabase.co/functions/v1/${name}${GUARDED_PATH[name]}`, {
          method: "POST",
          headers,
        }),
      );
      assert.equal(response.status, 401, `${name}, ${label}`);
      assert.equal((await response.json()).error.code, code, `${name}, ${label}`);
    }
  }
});
