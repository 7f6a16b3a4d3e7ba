import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { callFunction, stackInfo } from "../support/stack.ts";
import { foreignToken, projectToken, userClaims } from "../support/tokens.ts";

const FUNCTIONS = ["upload-to-s3", "s3-image-service"];

function assertCors(headers: Headers): void {
  assert.equal(headers.get("access-control-allow-origin"), "*");
  assert.match(headers.get("access-control-allow-headers") ?? "", /authorization/);
}

for (const name of FUNCTIONS) {
  Deno.test(`${name}: health without a token is 401 with a JSON error and CORS headers`, async () => {
    const { status, headers, body } = await callFunction(`${name}/health`);
    assert.equal(status, 401);
    assert.equal((body.error as { code: string }).code, "unauthorized");
    assertCors(headers);
  });

  Deno.test(`${name}: health answers the anon key as role anon`, async () => {
    const { status, headers, body } = await callFunction(`${name}/health`, {
      token: stackInfo().ANON_KEY,
    });
    assert.equal(status, 200);
    assert.deepEqual(body, { ok: true, function: name, role: "anon" });
    assertCors(headers);
  });

  Deno.test(`${name}: health answers the manager token as role manager`, async () => {
    const { status, body } = await callFunction(`${name}/health`, {
      token: stackInfo().MANAGER_TOKEN,
    });
    assert.equal(status, 200);
    assert.equal(body.role, "manager");
  });

  Deno.test(`${name}: health shows the worker's memory to service_role only`, async () => {
    const { status, body } = await callFunction(`${name}/health`, {
      token: stackInfo().SERVICE_ROLE_KEY,
    });
    assert.equal(status, 200);
    const memory = body.memory as Record<string, number>;
    assert.ok(memory.rssBytes > memory.isolateBytes, JSON.stringify(memory));
    assert.equal(memory.isolateBytes, memory.heapUsedBytes + memory.externalBytes);
    assert.ok(memory.peakIsolateBytes >= memory.isolateBytes);
    const manager = await callFunction(`${name}/health`, { token: stackInfo().MANAGER_TOKEN });
    assert.equal(manager.body.memory, undefined);
  });

  Deno.test(`${name}: CORS preflight needs no token`, async () => {
    const { status, headers } = await callFunction(`${name}/health`, { method: "OPTIONS" });
    assert.equal(status, 204);
    assertCors(headers);
  });
}

Deno.test("functions refuse forged, alg:none, legacy, expired and malformed tokens with 401", async () => {
  const info = stackInfo();
  const now = Math.floor(Date.now() / 1000);
  const header = (json: object) => btoa(JSON.stringify(json)).replace(/=+$/, "");
  const adminClaims = userClaims({
    sub: "00000000-0000-4000-8000-00000000000b",
    app_metadata: { role: "admin" },
  });
  // Signed with the project's real legacy secret: hosted functions never get it, so neither do
  // ours, and a legacy-signed user token proves nothing there.
  const legacy = await new SignJWT(adminClaims).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(info.JWT_SECRET));
  const cases: Record<string, [string, string]> = {
    "foreign key with the project's kid": [await foreignToken(adminClaims), "invalid_token"],
    "alg none": [
      `${header({ alg: "none", typ: "JWT" })}.${header(adminClaims)}.`,
      "invalid_token",
    ],
    "legacy HS256 user token": [legacy, "invalid_token"],
    "expired": [await projectToken({ ...adminClaims, exp: now - 10 }), "token_expired"],
    "malformed": ["not-a-jwt", "invalid_token"],
  };
  for (const [label, [token, code]] of Object.entries(cases)) {
    const { status, headers, body } = await callFunction("s3-image-service/health", { token });
    assert.equal(status, 401, label);
    assert.equal((body.error as { code: string }).code, code, label);
    assertCors(headers);
  }
});

Deno.test("an unknown function is a JSON 404", async () => {
  const { status, body } = await callFunction("no-such-function", {
    token: stackInfo().ANON_KEY,
  });
  assert.equal(status, 404);
  assert.equal((body.error as { code: string }).code, "function_not_found");
});
