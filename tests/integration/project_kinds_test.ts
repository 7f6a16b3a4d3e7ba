/**
 * Both kinds of hosted project, as the functions meet them: the harness runs this file against
 * a stack on signing keys (ES256 user tokens, a public JWKS) and again against one on the legacy
 * JWT secret (HS256 user tokens, the secret injected as an `oct` key), `AUTH_SIGNING`.
 */
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { generateKeyPair, SignJWT } from "jose";
import { samplePng } from "../../scripts/lib/png.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { withOwnFunction } from "../support/own_function.ts";
import { hs256Token, projectToken, userClaims } from "../support/tokens.ts";

const KIND = stackInfo().AUTH_SIGNING;
const FUNCTIONS = ["upload-to-s3", "s3-image-service"];
const ADMIN = { provider: "email", providers: ["email"], role: "admin" };

function client(): SupabaseClient {
  const info = stackInfo();
  return createClient(info.API_URL, info.PUBLISHABLE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}

async function signIn(who: "admin" | "manager"): Promise<SupabaseClient> {
  const info = stackInfo();
  const supabase = client();
  const { error } = await supabase.auth.signInWithPassword(
    who === "admin"
      ? { email: info.ADMIN_EMAIL, password: info.ADMIN_PASSWORD }
      : { email: info.MANAGER_EMAIL, password: info.MANAGER_PASSWORD },
  );
  assert.equal(error, null);
  return supabase;
}

/** The status a supabase-js `functions.invoke` ended with. */
async function invokeStatus(
  supabase: SupabaseClient,
  name: string,
  options: Parameters<SupabaseClient["functions"]["invoke"]>[1],
): Promise<number> {
  const { error, response } = await supabase.functions.invoke(name, options);
  if (error) {
    const context = (error as { context?: Response }).context;
    await context?.body?.cancel();
    return context?.status ?? 0;
  }
  return response?.status ?? 200;
}

/** Steers the local auth mirror (local stack only: outage, legacy keys, key rotation). */
async function authControl(what: string, body: unknown = {}): Promise<Record<string, unknown>> {
  const info = stackInfo();
  const response = await fetch(`${info.API_URL}/auth/v1/__stack/${what}`, {
    method: "POST",
    headers: { apikey: info.SECRET_KEY, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, what);
  return await response.json();
}

/** What hosted injects as SUPABASE_JWKS for this kind of project (read off the running stack). */
async function injectedJwks(): Promise<string> {
  const info = stackInfo();
  if (KIND === "legacy") {
    const k = btoa(info.JWT_SECRET).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    return JSON.stringify({ keys: [{ kty: "oct", k }] });
  }
  return await (await fetch(info.JWKS_URL)).text();
}

Deno.test(`project kinds (${KIND}): admin and manager sign in with supabase-js and use what their role allows`, async () => {
  const manager = await signIn("manager");
  const admin = await signIn("admin");
  const name = `kinds-${KIND}-${crypto.randomUUID().slice(0, 8)}.png`;
  try {
    assert.equal(await invokeStatus(manager, "s3-image-service/stats", { method: "GET" }), 200);
    assert.equal(await invokeStatus(manager, "s3-image-service/files", { method: "GET" }), 200);
    const form = new FormData();
    form.append("file", new File([samplePng(7, 8, 8) as BlobPart], name));
    assert.equal(await invokeStatus(manager, "upload-to-s3", { body: form }), 201);
    assert.equal(
      await invokeStatus(manager, "s3-image-service/rebuild", { body: {} }),
      403,
      "a manager may not rebuild",
    );
    assert.equal(await invokeStatus(admin, "s3-image-service/rebuild", { method: "GET" }), 200);
    assert.equal(
      await invokeStatus(admin, `s3-image-service/files/${name}?deleteObject=true`, {
        method: "DELETE",
      }),
      200,
    );
  } finally {
    await manager.auth.signOut();
    await admin.auth.signOut();
  }
});

Deno.test(`project kinds (${KIND}): forged, foreign and expired tokens are each a JSON 401`, async () => {
  const info = stackInfo();
  const now = Math.floor(Date.now() / 1000);
  const sub = "00000000-0000-4000-8000-0000000000ee";
  const claims = userClaims({ sub, app_metadata: ADMIN });
  const keyFile = JSON.parse(
    await Deno.readTextFile(`${Deno.env.get("STACK_STATE_DIR")}/auth-keys.json`),
  );
  const stranger = await generateKeyPair("ES256");
  const bad: Record<string, string> = {
    foreign_aud: await projectToken({ ...claims, aud: "another-api" }),
    foreign_iss: await projectToken({ ...claims, iss: "https://evil.example/auth/v1" }),
    hs256_other_secret: await hs256Token(claims, crypto.getRandomValues(new Uint8Array(32))),
    es256_foreign_key_project_kid: await new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: keyFile.signingKey.kid, typ: "JWT" })
      .sign(stranger.privateKey),
    hs256_keyed_with_jwks: await hs256Token(claims, await (await fetch(info.JWKS_URL)).text()),
    expired: await projectToken({ ...claims, iat: now - 3600, exp: now - 60 }),
  };
  for (const [label, token] of Object.entries(bad)) {
    for (const name of FUNCTIONS) {
      const { status, body, headers } = await callFunction(`${name}/health`, { token });
      assert.equal(status, 401, `${label} on ${name}: ${JSON.stringify(body)}`);
      assert.ok((body.error as { code?: string })?.code, label);
      assert.equal(headers.get("access-control-allow-origin"), "*");
    }
  }
});

Deno.test({
  name:
    `project kinds (${KIND}): a signed-out session's token is refused where the function must ask Auth`,
  // On a signing-keys project an HS256 token (signed with the legacy secret, still accepted by
  // Auth after the move) fits no local key, so the function asks GET /auth/v1/user, which knows
  // the session is gone. A legacy-secret project verifies such tokens locally, as hosted does.
  ignore: KIND === "legacy",
  async fn() {
    const supabase = await signIn("manager");
    const { data } = await supabase.auth.getSession();
    const live = JSON.parse(atob(data.session!.access_token.split(".")[1]));
    const asHs256 = (extra: Record<string, unknown>) => hs256Token({ ...live, ...extra });
    const stillSignedIn = await asHs256({ jti: "live" });
    assert.equal(
      (await callFunction("s3-image-service/health", { token: stillSignedIn })).body.role,
      "manager",
    );
    await supabase.auth.signOut();
    const signedOut = await asHs256({ jti: "after-sign-out" });
    const refused = await callFunction("s3-image-service/health", { token: signedOut });
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
  },
});

Deno.test({
  name:
    `project kinds (${KIND}): a kid added to the JWKS after start is accepted without a restart`,
  ignore: KIND === "legacy", // a legacy-secret project has no keys to rotate
  async fn() {
    const { kid } = await authControl("rotate-signing-key");
    const admin = await signIn("admin");
    try {
      const { data } = await admin.auth.getSession();
      assert.equal(JSON.parse(atob(data.session!.access_token.split(".")[0])).kid, kid);
      for (const name of FUNCTIONS) {
        const { status, body } = await callFunction(`${name}/health`, {
          token: data.session!.access_token,
        });
        assert.equal(status, 200, JSON.stringify(body));
        assert.equal(body.role, "admin", name);
      }
    } finally {
      await admin.auth.signOut();
    }
  },
});

Deno.test(`project kinds (${KIND}): a legacy API key counts only while the project accepts it`, async () => {
  const info = stackInfo();
  const legacyKeys = {
    SUPABASE_ANON_KEY: info.ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: info.SERVICE_ROLE_KEY,
    SUPABASE_JWKS: await injectedJwks(),
  };
  // A function of its own: nothing it has cached yet about either key.
  await withOwnFunction("s3-image-service", legacyKeys, async (base) => {
    const health = (key: string) => fetch(`${base}/health`, { headers: { apikey: key } });
    const enabled = await health(info.ANON_KEY);
    assert.equal((await enabled.json()).role, "anon");
    await authControl("legacy-api-keys", { disabled: true });
    try {
      const disabled = await health(info.SERVICE_ROLE_KEY);
      assert.equal(disabled.status, 401);
      assert.equal((await disabled.json()).error.code, "invalid_token");
    } finally {
      await authControl("legacy-api-keys", { disabled: false });
    }
  });
});

Deno.test(`project kinds (${KIND}): with Auth down, what needs it is 503 auth_unavailable and what does not still works`, async () => {
  const info = stackInfo();
  const env = {
    SUPABASE_ANON_KEY: info.ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: info.SERVICE_ROLE_KEY,
    SUPABASE_JWKS: await injectedJwks(),
  };
  const manager = await projectToken(userClaims({
    sub: "00000000-0000-4000-8000-0000000000ef",
    app_metadata: { provider: "email", providers: ["email"], role: "manager" },
  }));
  await withOwnFunction("s3-image-service", env, async (base) => {
    await authControl("outage", { down: true });
    try {
      const legacy = await fetch(`${base}/health`, { headers: { apikey: info.ANON_KEY } });
      assert.equal(legacy.status, 503);
      assert.equal((await legacy.json()).error.code, "auth_unavailable");
      const local = await fetch(`${base}/health`, {
        headers: { authorization: `Bearer ${manager}` },
      });
      assert.equal((await local.json()).role, "manager", "verified locally, Auth not needed");
    } finally {
      await authControl("outage", { down: false });
    }
  });
});
