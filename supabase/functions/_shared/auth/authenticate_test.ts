import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { AppError } from "../errors.ts";
import { authenticate, createAuthenticator } from "./authenticate.ts";
import { requireRole } from "./roles.ts";
import { TokenError } from "./jwt.ts";
import { type AuthSettings, authSettingsFromEnv } from "./settings.ts";

const LEGACY_SECRET = "a-legacy-secret-that-is-at-least-32-characters";
const PUBLISHABLE = "sb_publishable_AAAAAAAAAAAAAAAAAAAAAA_aaaaaaaa";
const SECRET = "sb_secret_BBBBBBBBBBBBBBBBBBBBBB_bbbbbbbb";
const pair = await generateKeyPair("ES256", { extractable: true });
const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] };
const now = () => Math.floor(Date.now() / 1000);

async function legacyKey(role: string, secret = LEGACY_SECRET): Promise<string> {
  return await new SignJWT({ role, iss: "supabase" }).setProtectedHeader({ alg: "HS256" })
    .setIssuedAt().setExpirationTime(now() + 3600).sign(new TextEncoder().encode(secret));
}
const ANON_JWT = await legacyKey("anon");
const SERVICE_JWT = await legacyKey("service_role");

/** Hosted's injected environment, as the local stack mirrors it. */
const HOSTED_ENV = {
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_JWKS: JSON.stringify(jwks),
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }),
  SUPABASE_ANON_KEY: ANON_JWT,
  SUPABASE_SERVICE_ROLE_KEY: SERVICE_JWT,
};

function userToken(extra: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ role: "authenticated", sub: "u1", email: "m@example.test", ...extra })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuedAt().setExpirationTime(now() + 600).sign(pair.privateKey);
}

function request(headers: Record<string, string>): Request {
  return new Request("https://ref.supabase.co/functions/v1/x/health", { headers });
}

async function callerOf(headers: Record<string, string>, env: Record<string, string> = HOSTED_ENV) {
  return await authenticate(request(headers), createAuthenticator(authSettingsFromEnv(env)));
}

async function refusedWith(
  headers: Record<string, string>,
  code: string,
  env: Record<string, string> = HOSTED_ENV,
) {
  await assert.rejects(
    callerOf(headers, env),
    (error: unknown) => error instanceof AppError && error.code === code,
    code,
  );
}

Deno.test("authenticate() takes the role from app_metadata of a JWKS-verified user token", async () => {
  const manager = await callerOf({
    authorization: `Bearer ${await userToken({ app_metadata: { role: "manager" } })}`,
    apikey: PUBLISHABLE,
  });
  assert.equal(manager.role, "manager");
  assert.equal(manager.id, "u1");
  assert.equal(manager.email, "m@example.test");
});

Deno.test("authenticate() gives nothing for a role in user_metadata", async () => {
  const caller = await callerOf({
    authorization: `Bearer ${await userToken({ user_metadata: { role: "admin" } })}`,
  });
  assert.equal(caller.role, "authenticated");
  assert.throws(() => requireRole(caller, ["admin"], "rebuild"), /Only admin users may rebuild/);
});

Deno.test("authenticate() counts a secret apikey as service_role and a publishable one as anon", async () => {
  assert.equal((await callerOf({ apikey: SECRET })).role, "service_role");
  // supabase-js repeats the key as the bearer when nobody is signed in.
  assert.equal(
    (await callerOf({ apikey: SECRET, authorization: `Bearer ${SECRET}` })).role,
    "service_role",
  );
  assert.equal((await callerOf({ apikey: PUBLISHABLE })).role, "anon");
  assert.equal(
    (await callerOf({ apikey: PUBLISHABLE, authorization: `Bearer ${PUBLISHABLE}` })).role,
    "anon",
  );
});

Deno.test("authenticate() refuses API keys that are not the project's", async () => {
  await refusedWith({ apikey: "sb_secret_CCCCCCCCCCCCCCCCCCCCCC_cccccccc" }, "invalid_token");
  await refusedWith(
    { authorization: "Bearer sb_secret_CCCCCCCCCCCCCCCCCCCCCC_c" },
    "invalid_token",
  );
  // A publishable key must not unlock what a secret key does.
  await refusedWith({ apikey: `${PUBLISHABLE}x` }, "invalid_token");
});

Deno.test("authenticate() recognises the injected legacy keys and nothing signed like them", async () => {
  assert.equal((await callerOf({ authorization: `Bearer ${SERVICE_JWT}` })).role, "service_role");
  assert.equal((await callerOf({ authorization: `Bearer ${ANON_JWT}` })).role, "anon");
  // Another service_role JWT with the same secret is not the injected key: without
  // LEGACY_JWT_SECRET the function cannot verify it, so it is refused.
  const other = await new SignJWT({ role: "service_role", iss: "supabase", ref: "other" })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() + 60)
    .sign(new TextEncoder().encode(LEGACY_SECRET));
  await refusedWith({ authorization: `Bearer ${other}` }, "invalid_token");
});

Deno.test("authenticate() verifies legacy HS256 tokens only with LEGACY_JWT_SECRET", async () => {
  const legacyUser = await new SignJWT({ role: "authenticated", sub: "u2" })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() + 60)
    .sign(new TextEncoder().encode(LEGACY_SECRET));
  await refusedWith({ authorization: `Bearer ${legacyUser}` }, "invalid_token");
  const withSecret = { ...HOSTED_ENV, LEGACY_JWT_SECRET: LEGACY_SECRET };
  assert.equal((await callerOf({ authorization: `Bearer ${legacyUser}` }, withSecret)).id, "u2");
});

Deno.test("authenticate() maps expired tokens to token_expired and forgeries to invalid_token", async () => {
  const expired = await new SignJWT({ role: "authenticated", sub: "u1" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime(now() - 5)
    .sign(pair.privateKey);
  await refusedWith({ authorization: `Bearer ${expired}` }, "token_expired");
  const foreign = await generateKeyPair("ES256");
  const forged = await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime(now() + 60)
    .sign(foreign.privateKey);
  await refusedWith({ authorization: `Bearer ${forged}` }, "invalid_token");
  await refusedWith({ authorization: "Basic abc" }, "invalid_token");
});

Deno.test("authenticate() without credentials is unauthorized", async () => {
  await refusedWith({}, "unauthorized");
});

Deno.test("authenticate() with no way to verify anyone refuses as misconfigured", async () => {
  await refusedWith({ authorization: `Bearer ${await userToken()}` }, "misconfigured", {});
  await refusedWith({ apikey: SECRET }, "misconfigured", {});
  // API keys alone cannot verify a user token either: refused, never trusted.
  await refusedWith(
    { authorization: `Bearer ${await userToken()}` },
    "misconfigured",
    { SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }) },
  );
});

Deno.test("authenticate() falls back to the JWKS URL under SUPABASE_URL when SUPABASE_JWKS is absent", async () => {
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    paths.push(new URL(req.url).pathname);
    return Response.json(jwks);
  });
  try {
    const settings: AuthSettings = authSettingsFromEnv({
      SUPABASE_URL: `http://127.0.0.1:${server.addr.port}`,
    });
    const caller = await authenticate(
      request({ authorization: `Bearer ${await userToken({ app_metadata: { role: "admin" } })}` }),
      createAuthenticator(settings),
    );
    assert.equal(caller.role, "admin");
    assert.deepEqual(paths, ["/auth/v1/.well-known/jwks.json"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("authenticate() answers 503 auth_unavailable when the signing keys cannot be loaded", async () => {
  const unreachable = {
    canVerify: true,
    verify: () => Promise.reject(new TokenError("keys_unavailable", "JWKS fetch timed out")),
  };
  await assert.rejects(
    authenticate(
      request({ authorization: `Bearer ${await userToken()}` }),
      createAuthenticator(authSettingsFromEnv(HOSTED_ENV), unreachable),
    ),
    (error: AppError) => error.status === 503 && error.code === "auth_unavailable",
  );
});

Deno.test("authenticate() turns an unexpected verifier failure into a 500 without its details", async () => {
  const broken = {
    canVerify: true,
    verify: () => Promise.reject(new Error("secret internals")),
  };
  await assert.rejects(
    authenticate(
      request({ authorization: `Bearer ${await userToken()}` }),
      createAuthenticator(authSettingsFromEnv(HOSTED_ENV), broken),
    ),
    (error: AppError) =>
      error.status === 500 && error.code === "internal_error" && !/secret/.test(error.message),
  );
});

Deno.test("authenticate() takes the API role of a verified token that claims one", async () => {
  const withSecret = { ...HOSTED_ENV, LEGACY_JWT_SECRET: LEGACY_SECRET };
  for (const role of ["service_role", "anon"]) {
    const token = await new SignJWT({ role, ref: "another-legacy-key" })
      .setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(LEGACY_SECRET));
    assert.equal((await callerOf({ authorization: `Bearer ${token}` }, withSecret)).role, role);
  }
});
