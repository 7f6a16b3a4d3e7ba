import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { AppError } from "../errors.ts";
import { type AuthApi, type AuthUser } from "./auth_api.ts";
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

const ISSUER = "https://ref.supabase.co/auth/v1";

/** A user access token as hosted Auth issues it (`aud`, `iss`), signed by the project's key. */
function userToken(
  extra: Record<string, unknown> = {},
  key: CryptoKey = pair.privateKey,
  kid = "k1",
): Promise<string> {
  return new SignJWT({
    role: "authenticated",
    sub: "u1",
    email: "m@example.test",
    aud: "authenticated",
    iss: ISSUER,
    ...extra,
  }).setProtectedHeader({ alg: "ES256", kid })
    .setIssuedAt().setExpirationTime(now() + 600).sign(key);
}

/** An HS256 user token as a project on the legacy secret issues it. */
function hs256UserToken(
  secret: string | Uint8Array = LEGACY_SECRET,
  kid: string | undefined = "legacy-kid",
  extra: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({
    role: "authenticated",
    sub: "u2",
    aud: "authenticated",
    iss: ISSUER,
    ...extra,
  })
    .setProtectedHeader({ alg: "HS256", ...(kid ? { kid } : {}) })
    .setExpirationTime(now() + 600)
    .sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}

const b64url = (text: string) =>
  btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** A project on the legacy secret: SUPABASE_JWKS holds it as an `oct` key (CLI shape). */
const LEGACY_PROJECT_ENV = {
  ...HOSTED_ENV,
  SUPABASE_JWKS: JSON.stringify({ keys: [{ kty: "oct", k: b64url(LEGACY_SECRET) }] }),
};

/** An Auth API that knows `users` by token and accepts legacy keys while `legacyKeys` says so. */
class FakeAuthApi implements AuthApi {
  asked: string[] = [];
  constructor(
    readonly users: Record<string, AuthUser> = {},
    public legacyKeys: boolean | "down" = true,
  ) {}
  userOf(token: string) {
    this.asked.push("user");
    if (this.legacyKeys === "down") return Promise.reject(authDown());
    return Promise.resolve(this.users[token] ?? null);
  }
  acceptsLegacyKey() {
    this.asked.push("legacy");
    if (this.legacyKeys === "down") return Promise.reject(authDown());
    return Promise.resolve(this.legacyKeys);
  }
}
const authDown = () => new AppError(503, "auth_unavailable", "Auth cannot be reached");

function request(headers: Record<string, string>): Request {
  return new Request("https://ref.supabase.co/functions/v1/x/health", { headers });
}

async function callerOf(
  headers: Record<string, string>,
  env: Record<string, string> = HOSTED_ENV,
  authApi: AuthApi = new FakeAuthApi(),
) {
  return await authenticate(
    request(headers),
    createAuthenticator(authSettingsFromEnv(env), { authApi }),
  );
}

async function refusedWith(
  headers: Record<string, string>,
  code: string,
  env: Record<string, string> = HOSTED_ENV,
  authApi: AuthApi = new FakeAuthApi(),
) {
  await assert.rejects(
    callerOf(headers, env, authApi),
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

Deno.test("authenticate() takes the injected legacy keys only while the project accepts them", async () => {
  const enabled = new FakeAuthApi({}, true);
  assert.equal(
    (await callerOf({ authorization: `Bearer ${SERVICE_JWT}` }, HOSTED_ENV, enabled)).role,
    "service_role",
  );
  assert.equal((await callerOf({ apikey: ANON_JWT }, HOSTED_ENV, enabled)).role, "anon");
  // Disabled by the owner, still injected by the platform: refused.
  const disabled = new FakeAuthApi({}, false);
  await refusedWith(
    { authorization: `Bearer ${SERVICE_JWT}` },
    "invalid_token",
    HOSTED_ENV,
    disabled,
  );
  await refusedWith({ apikey: ANON_JWT }, "invalid_token", HOSTED_ENV, disabled);
  // The operator's switch refuses without asking.
  const unasked = new FakeAuthApi({}, true);
  await refusedWith(
    { apikey: SERVICE_JWT },
    "invalid_token",
    { ...HOSTED_ENV, LEGACY_API_KEYS: "disabled" },
    unasked,
  );
  assert.deepEqual(unasked.asked, []);
  // Auth unreachable: neither a pass nor a 401.
  await refusedWith(
    { apikey: SERVICE_JWT },
    "auth_unavailable",
    HOSTED_ENV,
    new FakeAuthApi({}, "down"),
  );
});

Deno.test("authenticate() treats any token signed like a legacy key as one, with the same check", async () => {
  const other = await new SignJWT({ role: "service_role", iss: "supabase", ref: "another" })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() + 60)
    .sign(new TextEncoder().encode(LEGACY_SECRET));
  // On a legacy-secret project the injected oct key verifies it; it is still a legacy key.
  const disabled = new FakeAuthApi({}, false);
  await refusedWith(
    { authorization: `Bearer ${other}` },
    "invalid_token",
    LEGACY_PROJECT_ENV,
    disabled,
  );
  const enabled = new FakeAuthApi({}, true);
  assert.equal(
    (await callerOf({ authorization: `Bearer ${other}` }, LEGACY_PROJECT_ENV, enabled)).role,
    "service_role",
  );
});

Deno.test("authenticate() verifies HS256 user tokens against the oct key hosted injects in SUPABASE_JWKS", async () => {
  const auth = new FakeAuthApi();
  const token = await hs256UserToken(LEGACY_SECRET, "legacy-kid", {
    app_metadata: { role: "admin" },
  });
  const caller = await callerOf({ authorization: `Bearer ${token}` }, LEGACY_PROJECT_ENV, auth);
  assert.equal(caller.role, "admin");
  assert.equal(caller.id, "u2");
  assert.deepEqual(auth.asked, [], "verified locally, Auth not asked");
  // Signed with another secret, or "signed" with the JWKS JSON as the secret: refused.
  await refusedWith(
    {
      authorization: `Bearer ${await hs256UserToken("another-secret-that-is-at-least-32-chars!")}`,
    },
    "invalid_token",
    LEGACY_PROJECT_ENV,
  );
  await refusedWith(
    { authorization: `Bearer ${await hs256UserToken(LEGACY_PROJECT_ENV.SUPABASE_JWKS)}` },
    "invalid_token",
    LEGACY_PROJECT_ENV,
  );
  await refusedWith(
    { authorization: `Bearer ${await hs256UserToken(JSON.stringify(jwks))}` },
    "invalid_token",
    HOSTED_ENV,
  );
});

Deno.test("authenticate() matches an HS256 token's kid with the oct key's when both carry one", async () => {
  const env = {
    ...HOSTED_ENV,
    SUPABASE_JWKS: JSON.stringify({
      keys: [{ kty: "oct", kid: "current", k: b64url(LEGACY_SECRET) }],
    }),
  };
  const auth = new FakeAuthApi();
  assert.equal(
    (await callerOf(
      { authorization: `Bearer ${await hs256UserToken(LEGACY_SECRET, "current")}` },
      env,
      auth,
    )).id,
    "u2",
  );
  // Another kid: no local key fits, so Auth is asked, and it does not know the token.
  await refusedWith(
    { authorization: `Bearer ${await hs256UserToken(LEGACY_SECRET, "older")}` },
    "invalid_token",
    env,
    auth,
  );
  assert.deepEqual(auth.asked, ["user"]);
});

Deno.test("authenticate() takes LEGACY_JWT_SECRET as the only HS256 key when the operator sets it", async () => {
  const override = "an-operator-override-secret-of-32-chars-or-more";
  const env = { ...LEGACY_PROJECT_ENV, LEGACY_JWT_SECRET: override };
  assert.equal(
    (await callerOf({ authorization: `Bearer ${await hs256UserToken(override)}` }, env)).id,
    "u2",
  );
  await refusedWith(
    { authorization: `Bearer ${await hs256UserToken(LEGACY_SECRET)}` },
    "invalid_token",
    env,
  );
});

Deno.test("authenticate() refuses a project-signed token with a foreign aud or iss", async () => {
  await refusedWith(
    {
      authorization: `Bearer ${await userToken({
        aud: "some-other-api",
        app_metadata: { role: "admin" },
      })}`,
    },
    "invalid_token",
  );
  await refusedWith(
    {
      authorization: `Bearer ${await userToken({
        iss: "https://evil.example/auth/v1",
        app_metadata: { role: "admin" },
      })}`,
    },
    "invalid_token",
  );
  const noAud = await userToken({ aud: undefined });
  await refusedWith({ authorization: `Bearer ${noAud}` }, "invalid_token");
});

Deno.test("authenticate() asks the Auth API about a token no local key fits, and only a 200 lets it in", async () => {
  const rotated = await generateKeyPair("ES256");
  const token = await userToken({}, rotated.privateKey, "k2-not-injected");
  // No SUPABASE_URL here, so no JWKS refetch: the injected keys lack k2 and Auth is asked.
  const { SUPABASE_URL: _url, ...offline } = HOSTED_ENV;
  const known = new FakeAuthApi({
    [token]: {
      id: "u9",
      role: "authenticated",
      email: "a@example.test",
      app_metadata: { role: "admin" },
    },
  });
  const caller = await callerOf({ authorization: `Bearer ${token}` }, offline, known);
  assert.deepEqual([caller.role, caller.id, caller.email], ["admin", "u9", "a@example.test"]);
  await refusedWith(
    { authorization: `Bearer ${token}` },
    "invalid_token",
    offline,
    new FakeAuthApi(),
  );
  await refusedWith(
    { authorization: `Bearer ${token}` },
    "auth_unavailable",
    offline,
    new FakeAuthApi({}, "down"),
  );
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
      request({
        authorization: `Bearer ${await userToken({
          app_metadata: { role: "admin" },
          iss: `http://127.0.0.1:${server.addr.port}/auth/v1`,
        })}`,
      }),
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
    verify: () => Promise.reject(new TokenError("keys_unavailable", "JWKS fetch timed out")),
  };
  await assert.rejects(
    authenticate(
      request({ authorization: `Bearer ${await userToken()}` }),
      createAuthenticator(authSettingsFromEnv(HOSTED_ENV), { verifier: unreachable }),
    ),
    (error: AppError) => error.status === 503 && error.code === "auth_unavailable",
  );
});

Deno.test("authenticate() turns an unexpected verifier failure into a 500 without its details", async () => {
  const broken = {
    verify: () => Promise.reject(new Error("secret internals")),
  };
  await assert.rejects(
    authenticate(
      request({ authorization: `Bearer ${await userToken()}` }),
      createAuthenticator(authSettingsFromEnv(HOSTED_ENV), { verifier: broken }),
    ),
    (error: AppError) =>
      error.status === 500 && error.code === "internal_error" && !/secret/.test(error.message),
  );
});

Deno.test("authenticate() takes the API role of a verified token that claims one, as a legacy key", async () => {
  const withSecret = { ...HOSTED_ENV, LEGACY_JWT_SECRET: LEGACY_SECRET };
  for (const role of ["service_role", "anon"]) {
    const token = await new SignJWT({ role, ref: "another-legacy-key" })
      .setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() + 60)
      .sign(new TextEncoder().encode(LEGACY_SECRET));
    assert.equal((await callerOf({ authorization: `Bearer ${token}` }, withSecret)).role, role);
  }
});
