import assert from "node:assert/strict";
import { base64url, exportJWK, generateKeyPair, SignJWT } from "jose";
import { checkGatewayJwt } from "./functions_host.ts";
import { createGatewayVerifier } from "./gateway_jwt.ts";
import { newApiKey, signLegacyKey } from "./keys.ts";

const LEGACY_SECRET = "a-legacy-secret-that-is-at-least-32-characters";
const es256 = await generateKeyPair("ES256", { extractable: true });
const rs256 = await generateKeyPair("RS256", { extractable: true });
const jwks = {
  keys: [
    { ...(await exportJWK(es256.publicKey)), kid: "k1", alg: "ES256" },
    { ...(await exportJWK(rs256.publicKey)), kid: "k2", alg: "RS256" },
  ],
};
const verify = createGatewayVerifier({ legacyJwtSecret: LEGACY_SECRET, jwks });
const hour = () => Math.floor(Date.now() / 1000) + 3600;

/** What the gateway answers: 200 when it lets the request through, else its status and code. */
async function gateway(token?: string): Promise<string> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const refusal = await checkGatewayJwt(new Request("http://x/", { headers }), verify);
  if (!refusal) return "200";
  const { error } = await refusal.json();
  return `${refusal.status} ${error.code}`;
}

function userToken(
  key: CryptoKey,
  header: { alg: string; kid?: string },
  exp: number | string = "1h",
) {
  return new SignJWT({ role: "authenticated", sub: "u1" }).setProtectedHeader(header)
    .setExpirationTime(exp).sign(key);
}

/** A token whose header and claims are as given and whose signature part is `signature`. */
function handMade(header: object, claims: object, signature = ""): string {
  const part = (value: object) => base64url.encode(JSON.stringify(value));
  return `${part(header)}.${part(claims)}.${signature}`;
}

Deno.test("gateway verify_jwt passes the legacy keys and ES256/RS256 user tokens, as the CLI's does", async () => {
  assert.equal(await gateway(await signLegacyKey("anon", LEGACY_SECRET)), "200");
  assert.equal(await gateway(await signLegacyKey("service_role", LEGACY_SECRET)), "200");
  assert.equal(
    await gateway(await userToken(es256.privateKey, { alg: "ES256", kid: "k1" })),
    "200",
  );
  assert.equal(
    await gateway(await userToken(rs256.privateKey, { alg: "RS256", kid: "k2" })),
    "200",
  );
});

Deno.test("gateway verify_jwt refuses tokens signed with a wrong key, whatever the algorithm", async () => {
  const foreign = await generateKeyPair("ES256");
  const forged = await userToken(foreign.privateKey, { alg: "ES256", kid: "k1" });
  assert.equal(await gateway(forged), "401 invalid_token");
  const otherSecret = await signLegacyKey("service_role", "x".repeat(40));
  assert.equal(await gateway(otherSecret), "401 invalid_token");
  // Algorithm confusion: an HS256 token keyed with the project's public key.
  const publicJwk = JSON.stringify(jwks.keys[0]);
  const confused = await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
    .sign(new TextEncoder().encode(publicJwk));
  assert.equal(await gateway(confused), "401 invalid_token");
});

Deno.test("gateway verify_jwt refuses expired tokens with token_expired", async () => {
  const past = Math.floor(Date.now() / 1000) - 60;
  const user = await userToken(es256.privateKey, { alg: "ES256", kid: "k1" }, past);
  assert.equal(await gateway(user), "401 token_expired");
  const legacy = await new SignJWT({ role: "anon" }).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(past).sign(new TextEncoder().encode(LEGACY_SECRET));
  assert.equal(await gateway(legacy), "401 token_expired");
});

Deno.test("gateway verify_jwt refuses alg:none, other algorithms, API keys, junk and no token", async () => {
  const claims = { role: "service_role", exp: hour() };
  assert.equal(await gateway(handMade({ alg: "none", typ: "JWT" }, claims)), "401 invalid_token");
  // An alg:none token carrying the signature of a valid one is still refused.
  const valid = await signLegacyKey("service_role", LEGACY_SECRET);
  const stolen = valid.split(".")[2];
  assert.equal(await gateway(handMade({ alg: "none" }, claims, stolen)), "401 invalid_token");
  const ps256 = await generateKeyPair("PS256");
  assert.equal(
    await gateway(await userToken(ps256.privateKey, { alg: "PS256", kid: "k2" })),
    "401 invalid_token",
  );
  assert.equal(await gateway(await newApiKey("secret")), "401 invalid_token");
  assert.equal(await gateway("not-a-jwt"), "401 invalid_token");
  assert.equal(await gateway(), "401 unauthorized");
});

Deno.test("newApiKey() has the shape of Supabase's keys", async () => {
  assert.match(
    await newApiKey("publishable"),
    /^sb_publishable_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/,
  );
  assert.match(await newApiKey("secret"), /^sb_secret_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/);
});
