import assert from "node:assert/strict";
import { AppError } from "../errors.ts";
import { createAuthApi, VERDICT_TTL_MS } from "./auth_api.ts";

/** A scripted Auth API on loopback: `answer` decides each response; every request is logged. */
function fakeAuth(answer: (request: Request) => Response) {
  const seen: Array<{ path: string; apikey: string | null }> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    seen.push({ path: new URL(request.url).pathname, apikey: request.headers.get("apikey") });
    return answer(request);
  });
  return { server, seen, url: `http://127.0.0.1:${server.addr.port}` };
}

const unavailable = (error: unknown) =>
  error instanceof AppError && error.status === 503 && error.code === "auth_unavailable";

Deno.test("userOf() asks GET /auth/v1/user with the token and the apikey, and keeps the verdict", async () => {
  const auth = fakeAuth((request) =>
    request.headers.get("authorization") === "Bearer good"
      ? Response.json({ id: "u1", role: "authenticated", app_metadata: { role: "manager" } })
      : Response.json({ code: "bad_jwt" }, { status: 403 })
  );
  let clock = 1_000_000;
  try {
    const api = createAuthApi({
      supabaseUrl: auth.url,
      apiKey: "sb_publishable_x",
      now: () => clock,
    });
    assert.equal((await api.userOf("good"))?.id, "u1");
    assert.equal((await api.userOf("good"))?.id, "u1");
    assert.equal(await api.userOf("bad"), null);
    assert.equal(await api.userOf("bad"), null);
    assert.equal(auth.seen.length, 2, "one call per token while the verdict is fresh");
    assert.equal(auth.seen[0].path, "/auth/v1/user");
    assert.equal(auth.seen[0].apikey, "sb_publishable_x");
    clock += VERDICT_TTL_MS + 1;
    await api.userOf("good");
    assert.equal(auth.seen.length, 3, "asked again after a minute");
  } finally {
    await auth.server.shutdown();
  }
});

Deno.test("userOf() never keeps a verdict past the token's exp", async () => {
  const auth = fakeAuth(() => Response.json({ id: "u1" }));
  const clock = 1_000_000;
  try {
    const api = createAuthApi({ supabaseUrl: auth.url, now: () => clock });
    const expiresAt = Math.floor(clock / 1000) - 1; // already expired
    await api.userOf("t", expiresAt);
    await api.userOf("t", expiresAt);
    assert.equal(auth.seen.length, 2);
  } finally {
    await auth.server.shutdown();
  }
});

Deno.test("userOf() and acceptsLegacyKey() call an Auth that answers 5xx or cannot be reached unavailable", async () => {
  const auth = fakeAuth(() => new Response("down", { status: 502 }));
  try {
    const api = createAuthApi({ supabaseUrl: auth.url });
    await assert.rejects(api.userOf("t"), unavailable);
    await assert.rejects(api.acceptsLegacyKey("k"), unavailable);
  } finally {
    await auth.server.shutdown();
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const gone = createAuthApi({ supabaseUrl: `http://127.0.0.1:${port}` });
  await assert.rejects(gone.userOf("t"), unavailable);
});

Deno.test("acceptsLegacyKey() asks GET /auth/v1/settings with the key: 200 accepted, 401 disabled", async () => {
  const auth = fakeAuth((request) =>
    request.headers.get("apikey") === "legacy-on"
      ? Response.json({ external: {} })
      : Response.json({ message: "Legacy API keys are disabled" }, { status: 401 })
  );
  try {
    const api = createAuthApi({ supabaseUrl: auth.url });
    assert.equal(await api.acceptsLegacyKey("legacy-on"), true);
    assert.equal(await api.acceptsLegacyKey("legacy-off"), false);
    assert.equal(await api.acceptsLegacyKey("legacy-off"), false);
    assert.equal(auth.seen.length, 2, "the answer is kept for a minute");
    assert.equal(auth.seen[0].path, "/auth/v1/settings");
  } finally {
    await auth.server.shutdown();
  }
});
