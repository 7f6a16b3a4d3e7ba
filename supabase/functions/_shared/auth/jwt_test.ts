import assert from "node:assert/strict";
import { bearerToken, JwtError, signJwt, verifyJwt } from "./jwt.ts";

const SECRET = "a-test-secret-that-is-at-least-32-characters";
const NOW = 1_800_000_000;

async function rejects(promise: Promise<unknown>, reason: JwtError["reason"]) {
  await assert.rejects(promise, (error) => error instanceof JwtError && error.reason === reason);
}

Deno.test("verifyJwt() returns the claims of a token it signed", async () => {
  const token = await signJwt({ role: "service_role", exp: NOW + 60 }, SECRET);
  assert.deepEqual(await verifyJwt(token, SECRET, NOW), { role: "service_role", exp: NOW + 60 });
});

Deno.test("verifyJwt() rejects a token signed with another secret", async () => {
  const token = await signJwt(
    { role: "service_role" },
    "another-secret-of-at-least-32-characters!",
  );
  await rejects(verifyJwt(token, SECRET, NOW), "signature");
});

Deno.test("verifyJwt() rejects alg none even with a valid-looking payload", async () => {
  const part = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, "");
  await rejects(
    verifyJwt(`${part({ alg: "none" })}.${part({ role: "service_role" })}.`, SECRET),
    "algorithm",
  );
});

Deno.test("verifyJwt() rejects a tampered payload", async () => {
  const token = await signJwt({ role: "anon" }, SECRET);
  const [header, , signature] = token.split(".");
  const forged = btoa(JSON.stringify({ role: "service_role" })).replace(/=+$/, "");
  await rejects(verifyJwt(`${header}.${forged}.${signature}`, SECRET, NOW), "signature");
});

Deno.test("verifyJwt() rejects an expired token and a malformed one", async () => {
  await rejects(verifyJwt(await signJwt({ exp: NOW }, SECRET), SECRET, NOW), "expired");
  await rejects(verifyJwt("abc", SECRET), "malformed");
  await rejects(verifyJwt("a.b.c", SECRET), "malformed");
});

Deno.test("bearerToken() reads only a well-formed Bearer header", () => {
  const request = (value?: string) =>
    new Request("http://x/", { headers: value ? { authorization: value } : {} });
  assert.equal(bearerToken(request("Bearer abc.def.ghi")), "abc.def.ghi");
  assert.equal(bearerToken(request("bearer xyz")), "xyz");
  assert.equal(bearerToken(request("Basic abc")), undefined);
  assert.equal(bearerToken(request()), undefined);
});
