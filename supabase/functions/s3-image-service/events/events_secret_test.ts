import assert from "node:assert/strict";
import { presentedSecret, secretMatches } from "./events_secret.ts";

const SECRET = "0123456789abcdef0123456789abcdef";
const withAuth = (value?: string) =>
  new Request("https://x/events", { headers: value ? { authorization: value } : {} });

Deno.test("presentedSecret() reads a Bearer token or the password of Basic auth", () => {
  assert.equal(presentedSecret(withAuth(`Bearer ${SECRET}`)), SECRET);
  assert.equal(presentedSecret(withAuth(`bearer ${SECRET}`)), SECRET);
  assert.equal(presentedSecret(withAuth(`Basic ${btoa(`events:${SECRET}`)}`)), SECRET);
  assert.equal(presentedSecret(withAuth(`Basic ${btoa(`user:pa:ss`)}`)), "pa:ss");
  assert.equal(presentedSecret(withAuth()), undefined);
  assert.equal(presentedSecret(withAuth("Bearer")), undefined);
  assert.equal(presentedSecret(withAuth(`Basic ${btoa("no-colon")}`)), undefined);
  assert.equal(presentedSecret(withAuth(`Digest ${SECRET}`)), undefined);
});

Deno.test("secretMatches() accepts exactly the secret, whatever the length presented", () => {
  assert.ok(secretMatches(SECRET, SECRET));
  assert.ok(!secretMatches(undefined, SECRET));
  assert.ok(!secretMatches("", SECRET));
  assert.ok(!secretMatches(SECRET.slice(1), SECRET));
  assert.ok(!secretMatches(`${SECRET}0`, SECRET));
  assert.ok(!secretMatches(SECRET.toUpperCase(), SECRET));
});
