import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { serviceKeyHeaders } from "../../supabase/functions/_shared/auth/settings.ts";
import { callFunction, stackInfo } from "../support/stack.ts";
import { projectToken, userClaims } from "../support/tokens.ts";

const FUNCTIONS = ["upload-to-s3", "s3-image-service"];

/** Which kind of hosted project the stack plays; these tests run against both. */
const KIND = stackInfo().AUTH_SIGNING;

/** A supabase-js client as the admin UI builds one: URL and publishable key, nothing else. */
function client(): SupabaseClient {
  const info = stackInfo();
  return createClient(info.API_URL, info.PUBLISHABLE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}

async function roleSeenBy(supabase: SupabaseClient, name: string): Promise<unknown> {
  const { data, error } = await supabase.functions.invoke(`${name}/health`, { method: "GET" });
  if (error) {
    const response = (error as { context?: Response }).context;
    return { status: response?.status, body: await response?.json().catch(() => undefined) };
  }
  return data.role;
}

Deno.test(`auth (${KIND} project): signInWithPassword, then both functions see the manager; signOut ends the session`, async () => {
  const info = stackInfo();
  const supabase = client();
  const { data, error } = await supabase.auth.signInWithPassword({
    email: info.MANAGER_EMAIL,
    password: info.MANAGER_PASSWORD,
  });
  assert.equal(error, null);
  const session = data.session!;
  assert.equal(session.token_type, "bearer");
  assert.ok(session.expires_in > 0 && session.expires_at! > Date.now() / 1000);
  assert.ok(session.refresh_token.length >= 12);
  assert.equal(data.user!.email, info.MANAGER_EMAIL);
  assert.equal(data.user!.app_metadata.role, "manager");
  const header = JSON.parse(atob(session.access_token.split(".")[0]));
  assert.equal(header.alg, KIND === "legacy" ? "HS256" : "ES256");
  assert.ok(header.kid, "hosted gives access tokens a kid on both kinds of project");

  for (const name of FUNCTIONS) assert.equal(await roleSeenBy(supabase, name), "manager", name);

  const user = await supabase.auth.getUser();
  assert.equal(user.error, null);
  assert.equal(user.data.user!.id, data.user!.id);

  const signOut = await supabase.auth.signOut({ scope: "local" });
  assert.equal(signOut.error, null);
  // The session is gone: GoTrue refuses the old access token and its refresh token.
  const after = await client().auth.getUser(session.access_token);
  assert.equal(after.data.user, null);
  assert.ok(after.error);
  const refresh = await client().auth.refreshSession({ refresh_token: session.refresh_token });
  assert.equal(refresh.data.session, null);
  assert.equal((refresh.error as { code?: string }).code, "refresh_token_not_found");
  // Signed out, supabase-js falls back to the publishable key: anonymous, so refused.
  assert.equal(await roleSeenBy(supabase, "s3-image-service"), "anon");
});

Deno.test(`auth (${KIND} project): a wrong password is GoTrue's invalid_credentials and signs nobody in`, async () => {
  const info = stackInfo();
  const { data, error } = await client().auth.signInWithPassword({
    email: info.ADMIN_EMAIL,
    password: `${info.ADMIN_PASSWORD}x`,
  });
  assert.equal(data.session, null);
  assert.equal(error?.status, 400);
  assert.equal((error as { code?: string }).code, "invalid_credentials");
});

Deno.test(`auth (${KIND} project): a refreshed session keeps working and rotates its refresh token`, async () => {
  const info = stackInfo();
  const supabase = client();
  const signIn = await supabase.auth.signInWithPassword({
    email: info.ADMIN_EMAIL,
    password: info.ADMIN_PASSWORD,
  });
  assert.equal(signIn.error, null);
  const first = signIn.data.session!;
  const { data, error } = await supabase.auth.refreshSession();
  assert.equal(error, null);
  assert.notEqual(data.session!.refresh_token, first.refresh_token);
  assert.equal(data.user!.email, info.ADMIN_EMAIL);
  for (const name of FUNCTIONS) assert.equal(await roleSeenBy(supabase, name), "admin", name);
  await supabase.auth.signOut();
});

Deno.test(`auth (${KIND} project): the viewer signs in with no role and may not upload or rebuild`, async () => {
  const info = stackInfo();
  const supabase = client();
  const { error } = await supabase.auth.signInWithPassword({
    email: info.VIEWER_EMAIL,
    password: info.VIEWER_PASSWORD,
  });
  assert.equal(error, null);
  assert.equal(await roleSeenBy(supabase, "upload-to-s3"), "authenticated");
  const rebuild = await supabase.functions.invoke("s3-image-service/rebuild", { body: {} });
  assert.equal((rebuild.error as { context?: Response }).context?.status, 403);
  await supabase.auth.signOut();
});

Deno.test(`auth (${KIND} project): the JWKS is served on the API port and never holds a secret`, async () => {
  const response = await fetch(stackInfo().JWKS_URL);
  assert.equal(response.status, 200);
  const { keys } = await response.json();
  if (KIND === "legacy") {
    assert.deepEqual(keys, [], "a legacy-secret project publishes no keys");
    return;
  }
  assert.equal(keys.length, 1);
  assert.equal(keys[0].alg, "ES256");
  assert.equal(keys[0].d, undefined);
});

Deno.test(`auth (${KIND} project): API keys on the apikey header: secret is service_role, publishable is anon, others 401`, async () => {
  const info = stackInfo();
  for (const name of FUNCTIONS) {
    const secret = await callFunction(`${name}/health`, { headers: { apikey: info.SECRET_KEY } });
    assert.equal(secret.body.role, "service_role", name);
    const publishable = await callFunction(`${name}/health`, {
      headers: { apikey: info.PUBLISHABLE_KEY },
    });
    assert.equal(publishable.body.role, "anon", name);
    const foreign = await callFunction(`${name}/health`, {
      headers: { apikey: "sb_secret_aaaaaaaaaaaaaaaaaaaaaa_bbbbbbbb" },
    });
    assert.equal(foreign.status, 401, name);
    assert.equal((foreign.body.error as { code: string }).code, "invalid_token");
  }
});

Deno.test(`auth (${KIND} project): a role in user_metadata gives nothing`, async () => {
  const token = await projectToken(userClaims({
    sub: "00000000-0000-4000-8000-0000000000dd",
    user_metadata: { role: "admin" },
  }));
  const { status, body } = await callFunction("s3-image-service/health", { token });
  assert.equal(status, 200);
  assert.equal(body.role, "authenticated");
  const rebuild = await callFunction("s3-image-service/rebuild", { token, method: "POST" });
  assert.equal(rebuild.status, 403);
});

Deno.test(`auth (${KIND} project): the rebuild's self-call credentials (secret key on apikey and bearer) pass`, async () => {
  const info = stackInfo();
  const path = "s3-image-service/rebuild/999999999/continue";
  // An empty body is refused by validation, which runs only after authentication and the role
  // check: 400 proves the self-call's headers got through, without starting any work.
  const self = await callFunction(path, {
    method: "POST",
    headers: { ...serviceKeyHeaders(info.SECRET_KEY), "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(self.status, 400, JSON.stringify(self.body));
  const manager = await callFunction(path, {
    method: "POST",
    token: info.MANAGER_TOKEN,
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(manager.status, 403);
});
