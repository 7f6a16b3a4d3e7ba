import assert from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import { createAuthServer } from "./auth_server.ts";
import { loadStackKeys } from "./keys.ts";

const API = "http://127.0.0.1:1";
const stateDir = await Deno.makeTempDir({ prefix: "auth-server-test-" });
const keys = await loadStackKeys(stateDir);
globalThis.addEventListener("unload", () => Deno.removeSync(stateDir, { recursive: true }));

function call(
  server: { handle(r: Request): Promise<Response> },
  path: string,
  init: {
    method?: string;
    body?: unknown;
    token?: string;
    apikey?: string | null;
    v2024?: boolean;
  } = {},
) {
  const headers = new Headers({ "content-type": "application/json" });
  if (init.apikey !== null) headers.set("apikey", init.apikey ?? keys.publishableKey);
  if (init.token) headers.set("authorization", `Bearer ${init.token}`);
  if (init.v2024) headers.set("x-supabase-api-version", "2024-01-01");
  return server.handle(
    new Request(`${API}/auth/v1${path}`, {
      method: init.method ?? (init.body ? "POST" : "GET"),
      headers,
      body: init.body ? JSON.stringify(init.body) : undefined,
    }),
  );
}

async function signIn(server: Awaited<ReturnType<typeof createAuthServer>>, user = "manager") {
  const password = keys.passwords[user as keyof typeof keys.passwords];
  const response = await call(server, "/token?grant_type=password", {
    body: { email: `${user}@example.test`, password },
  });
  assert.equal(response.status, 200);
  return await response.json();
}

Deno.test({
  name:
    "auth server: password sign-in gives a GoTrue session with an ES256 token the JWKS verifies",
  async fn() {
    const server = await createAuthServer({ keys, apiUrl: API });
    const session = await signIn(server);
    assert.equal(session.token_type, "bearer");
    assert.equal(session.expires_in, 3600);
    assert.equal(session.user.app_metadata.role, "manager");
    const { payload, protectedHeader } = await jwtVerify(
      session.access_token,
      createLocalJWKSet(keys.jwks),
      { issuer: `${API}/auth/v1`, audience: "authenticated" },
    );
    assert.equal(protectedHeader.kid, keys.signingKey.kid);
    assert.equal(payload.role, "authenticated");
    assert.equal((payload.app_metadata as { role: string }).role, "manager");
    assert.equal(typeof payload.session_id, "string");
    const viewer = await signIn(server, "viewer");
    assert.equal(viewer.user.app_metadata.role, undefined);
  },
});

Deno.test("auth server: wrong password and missing apikey are refused as GoTrue and Kong do", async () => {
  const server = await createAuthServer({ keys, apiUrl: API });
  const wrong = await call(server, "/token?grant_type=password", {
    body: { email: "admin@example.test", password: "nope" },
    v2024: true,
  });
  assert.equal(wrong.status, 400);
  assert.deepEqual(await wrong.json(), {
    code: "invalid_credentials",
    message: "Invalid login credentials",
  });
  const legacyShape = await call(server, "/token?grant_type=password", {
    body: { email: "nobody@example.test", password: "nope" },
  });
  assert.equal((await legacyShape.json()).error_code, "invalid_credentials");
  const noKey = await call(server, "/user", { apikey: null });
  assert.equal(noKey.status, 401);
  const badKey = await call(server, "/user", { apikey: "sb_publishable_other" });
  assert.equal(badKey.status, 401);
  // The JWKS is public: no apikey needed, as on hosted.
  const jwks = await call(server, "/.well-known/jwks.json", { apikey: null });
  assert.equal(jwks.status, 200);
  assert.equal((await jwks.json()).keys[0].d, undefined);
});

Deno.test("auth server: a refresh rotates the token, and the session survives a restart", async () => {
  const first = await createAuthServer({ keys, apiUrl: API, stateDir });
  const session = await signIn(first);
  const restarted = await createAuthServer({ keys, apiUrl: API, stateDir });
  const refreshed = await call(restarted, "/token?grant_type=refresh_token", {
    body: { refresh_token: session.refresh_token },
  });
  assert.equal(refreshed.status, 200);
  const next = await refreshed.json();
  assert.notEqual(next.refresh_token, session.refresh_token);
  const user = await call(restarted, "/user", { token: next.access_token });
  assert.equal((await user.json()).email, "manager@example.test");
  const unknown = await call(restarted, "/token?grant_type=refresh_token", {
    body: { refresh_token: "not-a-token" },
  });
  assert.equal(unknown.status, 400);
  assert.equal((await unknown.json()).error_code, "refresh_token_not_found");
});

Deno.test("auth server: logout ends the session for /user and for refresh", async () => {
  const server = await createAuthServer({ keys, apiUrl: API });
  const keep = await signIn(server, "admin");
  const leave = await signIn(server, "admin");
  const out = await call(server, "/logout?scope=local", {
    method: "POST",
    token: leave.access_token,
  });
  assert.equal(out.status, 204);
  const gone = await call(server, "/user", { token: leave.access_token });
  assert.equal(gone.status, 403);
  assert.equal((await gone.json()).error_code, "session_not_found");
  const refresh = await call(server, "/token?grant_type=refresh_token", {
    body: { refresh_token: leave.refresh_token },
  });
  assert.equal(refresh.status, 400);
  // scope=local leaves the user's other sessions alone; global ends them.
  assert.equal((await call(server, "/user", { token: keep.access_token })).status, 200);
  await call(server, "/logout", { method: "POST", token: keep.access_token });
  assert.equal((await call(server, "/user", { token: keep.access_token })).status, 403);
});

Deno.test("auth server: a token from another key is bad_jwt on /user", async () => {
  const otherDir = await Deno.makeTempDir({ prefix: "auth-server-test-" });
  try {
    const other = await createAuthServer({ keys: await loadStackKeys(otherDir), apiUrl: API });
    const server = await createAuthServer({ keys, apiUrl: API });
    const foreign = await other.issueLongLivedToken("admin");
    const response = await call(server, "/user", { token: foreign });
    assert.equal(response.status, 403);
    assert.equal((await response.json()).error_code, "bad_jwt");
  } finally {
    await Deno.remove(otherDir, { recursive: true });
  }
});
