import assert from "node:assert/strict";
import { AppError } from "../errors.ts";
import {
  authSettingsFromEnv,
  parseJwks,
  parseKeyDictionary,
  selfCallKey,
  serviceKeyHeaders,
} from "./settings.ts";

const misconfigured = (name: string) => (error: unknown) =>
  error instanceof AppError && error.code === "misconfigured" && error.message.includes(name);

Deno.test("parseKeyDictionary() reads hosted's JSON dictionary of named keys", () => {
  assert.deepEqual(
    parseKeyDictionary("SUPABASE_SECRET_KEYS", '{"default":"sb_secret_a","ci":"sb_secret_b"}'),
    ["sb_secret_a", "sb_secret_b"],
  );
  assert.deepEqual(parseKeyDictionary("X", "sb_secret_single"), ["sb_secret_single"]);
  assert.deepEqual(parseKeyDictionary("X", undefined), []);
  assert.throws(
    () => parseKeyDictionary("SUPABASE_SECRET_KEYS", "{oops"),
    misconfigured("SUPABASE_SECRET_KEYS"),
  );
  assert.throws(() => parseKeyDictionary("X", '{"default":""}'), misconfigured("X"));
  for (const notADictionary of ['["sb_secret_a"]', "null", '"sb_secret_a"']) {
    assert.throws(() => parseKeyDictionary("X", notADictionary), misconfigured("X"));
  }
});

Deno.test("parseJwks() accepts {keys:[…]} and a bare array, refuses anything else", () => {
  assert.deepEqual(parseJwks('{"keys":[{"kty":"EC"}]}'), { keys: [{ kty: "EC" }] });
  assert.deepEqual(parseJwks('[{"kty":"EC"}]'), { keys: [{ kty: "EC" }] });
  assert.equal(parseJwks(""), undefined);
  assert.throws(() => parseJwks('{"kty":"EC"}'), misconfigured("SUPABASE_JWKS"));
  assert.throws(() => parseJwks("not json"), misconfigured("SUPABASE_JWKS"));
});

Deno.test("authSettingsFromEnv() refuses a short LEGACY_JWT_SECRET", () => {
  assert.throws(
    () => authSettingsFromEnv({ LEGACY_JWT_SECRET: "short" }),
    misconfigured("LEGACY_JWT_SECRET"),
  );
});

Deno.test("selfCallKey() prefers a secret key and falls back to the legacy service_role JWT", () => {
  const both = authSettingsFromEnv({
    SUPABASE_SECRET_KEYS: '{"default":"sb_secret_a"}',
    SUPABASE_SERVICE_ROLE_KEY: "eyJ.legacy.jwt",
  });
  assert.equal(selfCallKey(both), "sb_secret_a");
  assert.equal(
    selfCallKey(authSettingsFromEnv({ SUPABASE_SERVICE_ROLE_KEY: "eyJ.l.j" })),
    "eyJ.l.j",
  );
  assert.equal(selfCallKey(authSettingsFromEnv({})), undefined);
  assert.deepEqual(serviceKeyHeaders("sb_secret_a"), {
    apikey: "sb_secret_a",
    authorization: "Bearer sb_secret_a",
  });
});
